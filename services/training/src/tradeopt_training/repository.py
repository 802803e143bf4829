"""Queries over runs and models."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_training.models import Model, ModelStageChange, TrainingRun


class RunRepository(RepositoryBase[TrainingRun]):
    """Statements for :class:`TrainingRun`."""

    model = TrainingRun

    def filtered(
        self,
        *,
        status: str | None = None,
        dataset_id: uuid.UUID | None = None,
        algorithm: str | None = None,
        study_id: uuid.UUID | None = None,
    ) -> Select[Any]:
        """Runs matching every given filter."""
        stmt = select(TrainingRun)
        if status is not None:
            stmt = stmt.where(TrainingRun.status == status)
        if dataset_id is not None:
            stmt = stmt.where(TrainingRun.dataset_id == dataset_id)
        if algorithm is not None:
            stmt = stmt.where(TrainingRun.algorithm == algorithm)
        if study_id is not None:
            stmt = stmt.where(TrainingRun.study_id == study_id)
        return stmt


class ModelRepository(RepositoryBase[Model]):
    """Statements for :class:`Model`."""

    model = Model

    def filtered(
        self,
        *,
        stage: str | None = None,
        algorithm: str | None = None,
        dataset_id: uuid.UUID | None = None,
    ) -> Select[Any]:
        """Models matching every given filter."""
        stmt = select(Model)
        if stage is not None:
            stmt = stmt.where(Model.stage == stage)
        if algorithm is not None:
            stmt = stmt.where(Model.algorithm == algorithm)
        if dataset_id is not None:
            stmt = stmt.where(Model.dataset_id == dataset_id)
        return stmt

    async def with_alias(self, alias: str) -> list[Model]:
        """Models currently holding ``alias``."""
        rows = (
            await self.session.execute(select(Model).where(Model.aliases.is_not(None)))
        ).scalars()
        return [m for m in rows if alias in (m.aliases or [])]

    async def history(self, model_id: uuid.UUID) -> list[ModelStageChange]:
        """Stage/alias changes of a model, oldest first."""
        stmt = (
            select(ModelStageChange)
            .where(ModelStageChange.model_id == model_id)
            .order_by(ModelStageChange.created_at, ModelStageChange.id)
        )
        return list((await self.session.execute(stmt)).scalars())
