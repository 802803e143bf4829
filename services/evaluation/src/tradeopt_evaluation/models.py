"""ORM of the evaluation service (schema ``evaluation``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin


class EvaluationStatus(StrEnum):
    """Lifecycle of an evaluation; follows its job (``waiting``: a walk-forward parked on its
    fold runs).
    """

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Evaluation(IdMixin, TimestampMixin, Base):
    """A backtest of one or more subjects (models or baselines) on the same bars and costs.

    Results: ``metrics``/``benchmarks``/``statistics`` here; series, trades and the HTML report in
    object storage under ``evaluations/{id}/``.
    """

    __tablename__ = "evaluation"
    __table_args__ = {"schema": "evaluation"}

    status: Mapped[str] = mapped_column(String(16), default=EvaluationStatus.QUEUED, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="single")
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_checksum: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    baseline: Mapped[str | None] = mapped_column(String(32))
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    part: Mapped[str | None] = mapped_column(String(16))
    start: Mapped[datetime | None] = mapped_column()
    end: Mapped[datetime | None] = mapped_column()
    cost_bps: Mapped[float | None] = mapped_column()
    slippage_bps: Mapped[float | None] = mapped_column()
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    benchmarks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    statistics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    diagnostics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cost_sensitivity: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    comparison: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Paired tests vs the benchmarks, adjusted p-values, seed robustness, PBO
    #: (``tradeopt_ml.evaluation.subject_verdicts``); ``{}`` for walk-forward evaluations.
    verdicts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column()
