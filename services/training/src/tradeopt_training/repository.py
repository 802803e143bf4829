"""Queries over runs and models."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_training.errors import ModelNotFound, RunNotFound
from tradeopt_training.models import Model, ModelStageChange, TrainingRun


class RunRepository(RepositoryBase[TrainingRun]):
    """Statements for :class:`TrainingRun`."""

    model = TrainingRun
    noun, not_found = "run", RunNotFound


class ModelRepository(RepositoryBase[Model]):
    """Statements for :class:`Model`."""

    model = Model
    noun, not_found = "model", ModelNotFound

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

    async def of_run(self, run_id: uuid.UUID) -> list[Model]:
        """Models registered by a run."""
        return list(
            (await self.session.execute(select(Model).where(Model.run_id == run_id))).scalars()
        )

    async def delete_with_history(self, model: Model) -> None:
        """Delete a model and its stage history."""
        await self.session.execute(
            delete(ModelStageChange).where(ModelStageChange.model_id == model.id)
        )
        await self.delete(model)
