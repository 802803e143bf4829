"""Training runner: ``train(spec, make_train_env, make_eval_env, workdir, hooks, resume_from)``
with checkpoints, resume, eval-best, TensorBoard logs and job-layer hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeopt_ml.lazy import lazy_attributes

if TYPE_CHECKING:
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

#: Where each public name lives: imported on first use (:mod:`tradeopt_ml.lazy`).
_WHERE: dict[str, str] = {
    "CheckpointState": "tradeopt_ml.training.checkpoint",
    "EvalRecord": "tradeopt_ml.training.spec",
    "ExperimentSpec": "tradeopt_ml.training.experiment",
    "ProgressInfo": "tradeopt_ml.training.spec",
    "TrainHooks": "tradeopt_ml.training.spec",
    "TrainResult": "tradeopt_ml.training.spec",
    "TrainSpec": "tradeopt_ml.training.spec",
    "TrainingCanceled": "tradeopt_ml.training.spec",
    "latest_checkpoint": "tradeopt_ml.training.checkpoint",
    "list_checkpoints": "tradeopt_ml.training.checkpoint",
    "read_checkpoint": "tradeopt_ml.training.checkpoint",
    "train": "tradeopt_ml.training.runner",
    "validate_experiment": "tradeopt_ml.training.experiment",
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

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
