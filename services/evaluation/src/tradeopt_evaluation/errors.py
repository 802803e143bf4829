"""Errors of the evaluation service."""

from tradeopt_common.errors import Conflict, NotFound


class EvaluationNotFound(NotFound):
    """No evaluation with that id."""

    code, title = "evaluation-not-found", "Evaluation not found"


class EvaluationNotReady(Conflict):
    """The evaluation has no results yet (or failed)."""

    code, title = "evaluation-not-ready", "Evaluation not ready"


class EvaluationStateConflict(Conflict):
    """The evaluation's state does not allow the operation (e.g. deleting a running one)."""

    code, title = "evaluation-state-conflict", "Evaluation state conflict"
