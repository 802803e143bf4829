"""ORM of the training service (schema ``training``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin, utcnow


class RunStatus(StrEnum):
    """Lifecycle of a run; follows its training job."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class ModelStage(StrEnum):
    """Where a registered model stands."""

    NONE = "none"
    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class TrainingRun(IdMixin, TimestampMixin, Base):
    """One training of one algorithm on one dataset (``runs/{id}/…`` in object storage)."""

    __tablename__ = "run"
    __table_args__ = {"schema": "training"}

    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED, index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_checksum: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16), index=True)
    seed: Mapped[int] = mapped_column()
    total_timesteps: Mapped[int] = mapped_column()
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(default=0.0)
    timesteps: Mapped[int] = mapped_column(default=0)
    live: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resumed_from: Mapped[int | None] = mapped_column()
    model_id: Mapped[uuid.UUID | None] = mapped_column()
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    study_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    trial_number: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class Model(IdMixin, Base):
    """A registered model: ``models/{id}/model.zip`` + ``model.json`` (lineage)."""

    __tablename__ = "model"
    __table_args__ = {"schema": "training"}

    run_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    algorithm: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column()
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column()
    artifact_key: Mapped[str] = mapped_column(String(255))
    lineage_key: Mapped[str] = mapped_column(String(255))
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str] = mapped_column(String(16), default=ModelStage.CANDIDATE, index=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    study_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelStageChange(IdMixin, Base):
    """History of a model's stage and aliases."""

    __tablename__ = "model_stage_change"
    __table_args__ = {"schema": "training"}

    model_id: Mapped[uuid.UUID] = mapped_column(index=True)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
