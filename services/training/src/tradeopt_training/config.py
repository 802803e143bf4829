"""Settings of the training service."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from tradeopt_common.config import CommonSettings


class TrainingSettings(CommonSettings):
    """Training-service settings (common ones plus training limits and cadences)."""

    #: Largest ``total_timesteps`` a run may ask for.
    training_max_timesteps: int = Field(50_000_000, ge=1)
    #: Checkpoint cadence in timesteps for runs that do not set one (0 = about 10 per run), so
    #: that a run whose worker dies resumes instead of starting over.
    training_checkpoint_every: int = Field(0, ge=0)
    #: Torch threads per training job (one job per worker thread; keep workers x threads <= cores).
    torch_threads: int = Field(1, ge=1, le=256)
    #: Local scratch folder for runs in progress (default: the system temp folder; checkpoints
    #: are uploaded to object storage as well).
    training_workdir: str | None = None
    #: The folder the ``tensorboard`` component serves, mirrored from object storage
    #: (default ``<data dir>/tensorboard``; :mod:`tradeopt_training.tensorboard`).
    tensorboard_dir: Path | None = None
    #: Seconds between two passes of the component's sync loop.
    tensorboard_sync_seconds: float = Field(30.0, gt=0, le=3600)

    def tensorboard_logdir(self) -> Path:
        """The folder TensorBoard serves."""
        return self.tensorboard_dir or self.data_dir / "tensorboard"

    def default_checkpoint_every(self, total_timesteps: int, n_envs: int) -> int:
        """The cadence for a run that sets none: the setting, else about ten checkpoints."""
        every = self.training_checkpoint_every or max(1, total_timesteps // 10)
        return max(n_envs, every - every % n_envs)


@lru_cache
def get_training_settings() -> TrainingSettings:
    """Process-wide training settings."""
    return TrainingSettings()
