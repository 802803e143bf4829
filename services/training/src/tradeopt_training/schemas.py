"""Request and response models of the training service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from tradeopt_common.contracts.models import StudyOutcome
from tradeopt_ml.instants import UtcDateTime

Algorithm = Literal["ppo", "a2c", "dqn", "sac", "td3"]
Alias = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


class RunCreate(BaseModel):
    """``POST /api/v1/runs`` (DESIGN §3.1). ``env`` takes the environment fields (window,
    features, cost_bps, slippage_bps, action_space, fill, reward, …); ``split`` either dates
    (``train_end``, ``validation_end``) or fractions (``train``, ``validation``, ``test``).
    """

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    algorithm: Algorithm = "ppo"
    total_timesteps: int = Field(10_000, ge=1)
    seed: int = Field(0, ge=0, lt=2**31)
    n_envs: int = Field(1, ge=1, le=64)
    env: dict[str, Any] = Field(default_factory=dict)
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    split: dict[str, Any] = Field(default_factory=dict)
    symbols: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        None, min_length=1, max_length=64
    )
    start: UtcDateTime | None = Field(
        None, description="Train on bars from this instant on (rolling walk-forward windows)"
    )
    checkpoint_every: int | None = Field(None, ge=1)
    eval_every: int | None = Field(None, ge=1)
    eval_episodes: int = Field(1, ge=1, le=100)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    study_id: uuid.UUID | None = Field(
        None, description="Tags the run as a trial of this tuning study (with trial_number)"
    )
    trial_number: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _study_tag(self) -> RunCreate:
        if (self.study_id is None) != (self.trial_number is None):
            raise ValueError("give 'study_id' and 'trial_number' together")
        return self


class CheckpointRead(BaseModel):
    """One complete checkpoint of a run (the newest few are kept while it trains and after)."""

    step: int = Field(description="timesteps trained when it was written")
    created_at: datetime = Field(description="when its last file (the COMPLETE marker) landed")
    size_bytes: int = Field(description="bytes of its files")
    files: list[str] = Field(description="its files (the SB3 model zip, normalisation, state)")
    download: str = Field(description="GET path of its files as a .tar.gz")


class RunRead(BaseModel):
    """A run (DESIGN §3.1: ``{id, status, progress, job_id, metrics, model_id, error}``)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    progress: float
    timesteps: int
    total_timesteps: int
    dataset_id: uuid.UUID
    dataset_checksum: str
    algorithm: str
    seed: int
    spec: dict[str, Any]
    live: dict[str, Any]
    metrics: dict[str, Any]
    resumed_from: int | None
    model_id: uuid.UUID | None
    job_id: uuid.UUID | None
    study_id: uuid.UUID | None
    trial_number: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class StageChangeRead(BaseModel):
    """One entry of a model's stage history."""

    model_config = ConfigDict(from_attributes=True)

    from_stage: str | None
    to_stage: str
    aliases: list[str]
    note: str | None
    changed_by: str | None
    created_at: datetime


class ModelRead(BaseModel):
    """A registered model (DESIGN §3.1)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    algorithm: str
    dataset_id: uuid.UUID
    run_id: uuid.UUID
    params: dict[str, Any]
    seed: int
    checksum: str
    size: int
    stage: str
    aliases: list[str]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    study_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    history: list[StageChangeRead] = Field(default_factory=list)


class ModelUpdate(BaseModel):
    """``PATCH /api/v1/models/{id}``: move the stage and/or set aliases (recorded in history).
    An alias names one model at a time: giving it to this model takes it from any other.
    """

    model_config = ConfigDict(extra="forbid")

    stage: Literal["none", "candidate", "production", "archived"] | None = None
    aliases: list[Alias] | None = Field(None, max_length=16)
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] | None = None


class ModelStudyUpdate(StudyOutcome):
    """``PUT /api/v1/models/{id}/study``: the outcome of the finished study the model was trained
    in as trial ``trial_number`` — the number of trials and the variance of the trials' Sharpe
    ratios, the deflated Sharpe ratio's inputs.
    """
