"""ORM of the tuning service (schema ``tuning``). Optuna's own tables live in its storage (see
:mod:`tradeopt_tuning.storage`); these rows are what the API serves and what links each trial to
its training run.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, JSONType, TimestampMixin
from tradeopt_ml.tuning.objective import Objective, objective_list


class StudyStatus(StrEnum):
    """Lifecycle of a study; follows its job (``waiting``: parked while trials train)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class TrialState(StrEnum):
    """A trial's state (Optuna's, lower case). ``pruned`` is either a trial the pruner stopped
    during training (it has a run; it counts toward ``n_trials``) or one refused before
    training because its sampled values are invalid together (no run; it does not count).
    """

    RUNNING = "running"
    COMPLETE = "complete"
    FAIL = "fail"
    PRUNED = "pruned"


class Study(IdMixin, TimestampMixin, Base):
    """A hyperparameter study: ``n_trials`` training runs sampled by Optuna, ``parallelism`` at a
    time, ranked by a validation metric.
    """

    __tablename__ = "study"
    __table_args__ = {"schema": "tuning"}

    status: Mapped[str] = mapped_column(String(16), default=StudyStatus.QUEUED, index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    n_trials: Mapped[int] = mapped_column()
    parallelism: Mapped[int] = mapped_column()
    timesteps_per_trial: Mapped[int] = mapped_column()
    #: The first objective (``{metric, direction}``), what single-objective readers use.
    objective: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Every objective, in order (``None`` on rows written before multi-objective studies:
    #: ``[objective]``); see :attr:`objective_list`.
    objectives: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    seed: Mapped[int] = mapped_column()
    sampler: Mapped[str] = mapped_column(String(32))
    pruner: Mapped[str] = mapped_column(String(32))
    search_space: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(default=0.0)
    n_complete: Mapped[int] = mapped_column(default=0)
    n_failed: Mapped[int] = mapped_column(default=0)
    #: Trials the pruner stopped during training (they count toward ``n_trials``).
    n_pruned: Mapped[int] = mapped_column(default=0)
    n_running: Mapped[int] = mapped_column(default=0)
    best_trial: Mapped[dict[str, Any] | None] = mapped_column()
    best_model_id: Mapped[uuid.UUID | None] = mapped_column()
    #: The Pareto front of a multi-objective study (``[{number, params, values, model_id}]``,
    #: by number); ``None`` for a single objective (see ``best_trial``).
    best_trials: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    #: PBO of the finished study (tradeopt_tuning.overfitting), or why it is unavailable.
    overfitting: Mapped[dict[str, Any] | None] = mapped_column()
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    @property
    def objective_list(self) -> list[Objective]:
        """Every objective of the study, in order."""
        return objective_list(self.objectives if self.objectives else self.objective)

    @property
    def multi_objective(self) -> bool:
        """Whether the study has more than one objective (a Pareto front, no single best)."""
        return len(self.objectives or ()) > 1


class Trial(IdMixin, Base):
    """One trial of a study and the training run that evaluates it."""

    __tablename__ = "trial"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        {"schema": "tuning"},
    )

    study_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tuning.study.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=TrialState.RUNNING)
    #: The (first) objective's value.
    value: Mapped[float | None] = mapped_column()
    #: Every objective's value of a complete trial, in the study's order.
    values: Mapped[list[float] | None] = mapped_column(JSONType)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    run_job_id: Mapped[uuid.UUID | None] = mapped_column()
    model_id: Mapped[uuid.UUID | None] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The run's intermediate values told to Optuna, ``{str(timesteps): value}``.
    intermediate_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class WalkForwardOptimization(IdMixin, TimestampMixin, Base):
    """A walk-forward optimisation: one study per fold on the fold's in-sample window, the best
    parameters frozen and tested on the next out-of-sample window, the out-of-sample windows
    stitched (see :mod:`tradeopt_tuning.walkforward`).
    """

    __tablename__ = "walk_forward_optimization"
    __table_args__ = {"schema": "tuning"}

    status: Mapped[str] = mapped_column(String(16), default=StudyStatus.QUEUED, index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_checksum: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    objective: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int] = mapped_column()
    n_folds: Mapped[int] = mapped_column()
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(default=0.0)
    #: Per fold: windows, study, best trial, in-sample objective, out-of-sample metrics.
    folds: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    benchmarks: Mapped[dict[str, Any]] = mapped_column(default=dict)
    statistics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stability: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bars: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
