"""Queries over evaluations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_evaluation.models import Evaluation


class EvaluationRepository(RepositoryBase[Evaluation]):
    """Statements for :class:`Evaluation`."""

    model = Evaluation

    def filtered(
        self,
        *,
        status: str | None = None,
        dataset_id: uuid.UUID | None = None,
        model_id: uuid.UUID | None = None,
    ) -> Select[Any]:
        """Evaluations matching every given filter."""
        stmt = select(Evaluation)
        if status is not None:
            stmt = stmt.where(Evaluation.status == status)
        if dataset_id is not None:
            stmt = stmt.where(Evaluation.dataset_id == dataset_id)
        if model_id is not None:
            stmt = stmt.where(Evaluation.model_id == model_id)
        return stmt
