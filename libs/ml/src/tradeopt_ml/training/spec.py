"""The training contract: what to train (`TrainSpec`), what the job layer is told while it runs
(`TrainHooks`, `ProgressInfo`) and what comes back (`TrainResult`, `TrainingCanceled`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeopt_ml.agents.registry import get_algorithm, validate_hyperparams


class TrainSpec(BaseModel):
    """A training run, validated up front (the hyperparameters against the algorithm).

    ``checkpoint_every`` and ``eval_every`` count environment timesteps (all envs together);
    None disables checkpoints / evaluation. ``deterministic`` uses deterministic torch kernels and
    one torch thread so that the same spec and seed give bit-identical parameters on CPU.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: str
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    total_timesteps: int = Field(ge=1)
    seed: int = Field(0, ge=0, lt=2**31)
    n_envs: int = Field(1, ge=1, le=256)
    device: str = "auto"
    torch_threads: int | None = Field(None, ge=1, le=256)
    checkpoint_every: int | None = Field(None, ge=1)
    keep_checkpoints: int | None = Field(
        None, ge=1, description="Local checkpoint folders kept (oldest deleted); None = all."
    )
    eval_every: int | None = Field(None, ge=1)
    eval_episodes: int = Field(5, ge=1, le=1000)
    eval_deterministic: bool = True
    deterministic: bool = True

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, value: str) -> str:
        return get_algorithm(value).name

    @model_validator(mode="after")
    def _check(self) -> TrainSpec:
        validate_hyperparams(self.algorithm, self.hyperparams, n_envs=self.n_envs)
        if self.total_timesteps % self.n_envs:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} must be a multiple of "
                f"n_envs={self.n_envs} (every vectorised step advances all envs)"
            )
        if self.deterministic and self.torch_threads not in (None, 1):
            raise ValueError("deterministic=True runs torch on 1 thread; leave torch_threads unset")
        return self

    def params(self) -> Any:
        """The validated, typed hyperparameter model (defaults filled in)."""
        return validate_hyperparams(self.algorithm, self.hyperparams, n_envs=self.n_envs)


@dataclass(frozen=True, slots=True)
class ProgressInfo:
    """A progress report (``fraction`` = timesteps / total, never decreasing across a resume)."""

    fraction: float
    timesteps: int
    total: int
    steps_per_s: float
    eta_s: float | None
    recent_episode_reward: float | None


@dataclass(frozen=True, slots=True)
class EvalRecord:
    """One evaluation on the eval env."""

    timesteps: int
    mean_reward: float
    std_reward: float
    mean_ep_length: float
    is_best: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "timesteps": self.timesteps,
            "mean_reward": self.mean_reward,
            "std_reward": self.std_reward,
            "mean_ep_length": self.mean_ep_length,
            "is_best": self.is_best,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            timesteps=int(data["timesteps"]),
            mean_reward=float(data["mean_reward"]),
            std_reward=float(data["std_reward"]),
            mean_ep_length=float(data["mean_ep_length"]),
            is_best=bool(data["is_best"]),
        )


def _noop(*_args: Any) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(slots=True)
class TrainHooks:
    """Callbacks the job layer gives the runner (all optional).

    - ``on_progress(info)``: throttled to one call per ``progress_interval_s`` (plus the first and
      the last).
    - ``should_stop()``: polled at most every ``stop_check_interval_s``; True cancels the run
      promptly (:class:`TrainingCanceled` is raised).
    - ``on_checkpoint(path, timesteps)``: a complete checkpoint folder was written (upload it).
    - ``on_eval(record)``: an evaluation finished.
    - ``heartbeat()``: at most every ``heartbeat_interval_s`` while training, and around
      checkpoints and evaluations.

    Exceptions raised by a hook abort the run (they propagate out of :func:`train`).
    """

    on_progress: Callable[[ProgressInfo], None] = _noop
    should_stop: Callable[[], bool] = _never
    on_checkpoint: Callable[[Path, int], None] = _noop
    on_eval: Callable[[EvalRecord], None] = _noop
    heartbeat: Callable[[], None] = _noop
    progress_interval_s: float = 1.0
    heartbeat_interval_s: float = 5.0
    stop_check_interval_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished run produced (paths are inside the run's ``workdir``)."""

    final_model_path: Path
    best_model_path: Path | None
    vecnormalize_path: Path | None
    tensorboard_dir: Path
    timesteps: int
    eval_history: list[EvalRecord]
    seconds: float
    steps_per_s: float
    final_metrics: dict[str, float]
    resumed_from: Path | None = None
    checkpoints: list[Path] = field(default_factory=list)


class TrainingCanceled(Exception):
    """Raised by :func:`train` when ``hooks.should_stop()`` asked the run to stop."""

    def __init__(self, timesteps: int, total: int, last_checkpoint: Path | None) -> None:
        super().__init__(f"training canceled at {timesteps}/{total} timesteps")
        self.timesteps = timesteps
        self.total = total
        self.last_checkpoint = last_checkpoint
