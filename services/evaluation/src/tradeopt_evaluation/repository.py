"""Queries over evaluations."""

from __future__ import annotations

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_evaluation.errors import EvaluationNotFound
from tradeopt_evaluation.models import Evaluation


class EvaluationRepository(RepositoryBase[Evaluation]):
    """Statements for :class:`Evaluation`."""

    model = Evaluation
    noun, not_found = "evaluation", EvaluationNotFound
