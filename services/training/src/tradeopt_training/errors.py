"""Errors of the training service."""

from tradeopt_common.errors import Conflict, NotFound


class RunNotFound(NotFound):
    """No run with that id."""

    code, title = "run-not-found", "Run not found"


class CheckpointNotFound(NotFound):
    """The run has no complete checkpoint at that step (never written, or pruned)."""

    code, title = "checkpoint-not-found", "Checkpoint not found"


class RunStateConflict(Conflict):
    """The run's state does not allow the operation (e.g. cancelling a finished run)."""

    code, title = "run-state-conflict", "Run state conflict"


class ModelNotFound(NotFound):
    """No model with that id."""

    code, title = "model-not-found", "Model not found"


class ModelStudyConflict(Conflict):
    """The model was not trained as the named trial of the named study."""

    code, title = "model-study-conflict", "Model study conflict"


class ModelStateConflict(Conflict):
    """The model's state or its users do not allow the operation (e.g. deleting a model that
    an evaluation or strategy references).
    """

    code, title = "model-state-conflict", "Model state conflict"


class RunEventFilesConflict(Conflict):
    """The run has no TensorBoard event files (yet): they are uploaded when training ends."""

    code, title = "run-no-event-files", "Run has no TensorBoard event files"
