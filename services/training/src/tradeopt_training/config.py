"""Settings of the training service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from tradeopt_common.config import CommonSettings


class TrainingSettings(CommonSettings):
    """Training-service settings (common ones plus training limits and cadences)."""

    #: Largest ``total_timesteps`` a run may ask for.
    training_max_timesteps: int = Field(50_000_000, ge=1)
    #: Default checkpoint cadence in timesteps when a run does not set one (0 = about 10 per run).
    training_checkpoint_every: int = Field(0, ge=0)
    #: Torch threads per training job (one job per worker thread; keep workers x threads <= cores).
    torch_threads: int = Field(1, ge=1, le=256)
    #: Local scratch folder for runs in progress (checkpoints are also uploaded to storage).
    training_workdir: str | None = None


@lru_cache
def get_training_settings() -> TrainingSettings:
    """Process-wide training settings."""
    return TrainingSettings()
