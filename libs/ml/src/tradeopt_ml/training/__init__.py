"""Training runner: ``train(spec, make_train_env, make_eval_env, workdir, hooks, resume_from)``
with checkpoints, resume, eval-best, TensorBoard logs and job-layer hooks.
"""

from tradeopt_ml.training.checkpoint import (
    CheckpointState,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint,
)
from tradeopt_ml.training.experiment import ExperimentSpec, validate_experiment
from tradeopt_ml.training.runner import train
from tradeopt_ml.training.spec import (
    EvalRecord,
    ProgressInfo,
    TrainHooks,
    TrainingCanceled,
    TrainResult,
    TrainSpec,
)

__all__ = [
    "CheckpointState",
    "EvalRecord",
    "ExperimentSpec",
    "ProgressInfo",
    "TrainHooks",
    "TrainResult",
    "TrainSpec",
    "TrainingCanceled",
    "latest_checkpoint",
    "list_checkpoints",
    "read_checkpoint",
    "train",
    "validate_experiment",
]
