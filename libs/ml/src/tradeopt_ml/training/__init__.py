"""Training runner: ``train(spec, make_train_env, make_eval_env, workdir, hooks, resume_from)``
with checkpoints, resume, eval-best, TensorBoard logs and job-layer hooks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

#: Where each public name lives: its module is imported on first use (PEP 562), so importing
#: one light part of the package (a config, a schema) does not import the heavy ones (torch,
#: stable-baselines3, arch) with it: an API process that never trains starts in a fraction of
#: the time.
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
