"""Queries over studies and trials."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_tuning.errors import StudyNotFound, WalkForwardNotFound
from tradeopt_tuning.models import Study, Trial, WalkForwardOptimization


class StudyRepository(RepositoryBase[Study]):
    """Statements for :class:`Study`."""

    model = Study
    noun, not_found = "study", StudyNotFound

    async def last_activity(self, statuses: Sequence[str]) -> dict[uuid.UUID, datetime]:
        """Per study in ``statuses``: its latest progress — the last time one of its trials
        started or ended, else when it started, else when it was created.
        """
        stmt = (
            select(
                Study.id,
                Study.created_at,
                Study.started_at,
                func.max(Trial.started_at),
                func.max(Trial.finished_at),
            )
            .outerjoin(Trial, Trial.study_id == Study.id)
            .where(Study.status.in_(list(statuses)))
            .group_by(Study.id, Study.created_at, Study.started_at)
        )
        out: dict[uuid.UUID, datetime] = {}
        for study_id, created, *times in (await self.session.execute(stmt)).all():
            known = [t for t in times if t is not None]
            out[study_id] = max(known) if known else created
        return out


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
