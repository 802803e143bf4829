"""Queries over studies and trials."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_tuning.errors import StudyNotFound, WalkForwardNotFound
from tradeopt_tuning.models import Study, Trial, WalkForwardOptimization


class StudyRepository(RepositoryBase[Study]):
    """Statements for :class:`Study`."""

    model = Study
    noun, not_found = "study", StudyNotFound


class TrialRepository(RepositoryBase[Trial]):
    """Statements for :class:`Trial`."""

    model = Trial
    noun = "trial"

    async def of_study(self, study_id: uuid.UUID, state: str | None = None) -> Sequence[Trial]:
        """A study's trials by number (only those in ``state`` when given)."""
        stmt = select(Trial).where(Trial.study_id == study_id)
        if state is not None:
            stmt = stmt.where(Trial.state == state)
        return (await self.session.execute(stmt.order_by(Trial.number))).scalars().all()

    async def by_number(self, study_id: uuid.UUID, number: int) -> Trial | None:
        """Trial ``number`` of a study."""
        stmt = select(Trial).where(Trial.study_id == study_id, Trial.number == number)
        return (await self.session.execute(stmt)).scalar_one_or_none()


class WalkForwardRepository(RepositoryBase[WalkForwardOptimization]):
    """Statements for :class:`WalkForwardOptimization`."""

    model = WalkForwardOptimization
    noun, not_found = "walk-forward optimisation", WalkForwardNotFound
