"""Request and response models of walk-forward optimisations
(``/api/v1/walk-forward-optimizations``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tradeopt_ml.tuning import Objective
from tradeopt_tuning.schemas import Algorithm, SamplerName


class WalkForwardFolds(BaseModel):
    """The folds, in bars of the dataset — the layout of the evaluation service's walk-forward
    and of the data service's ``GET /api/v1/datasets/{id}/splits``
    (:class:`tradeopt_ml.data.FoldSpec`): fold ``k`` optimises on its in-sample (training)
    window and is tested on the ``test_bars`` bars that follow it after ``embargo_bars``.
    """

    model_config = ConfigDict(extra="forbid")

    train_bars: int = Field(ge=30, le=1_000_000, description="Bars of the (first) in-sample window")
    test_bars: int = Field(ge=5, le=1_000_000, description="Bars of each out-of-sample window")
    step_bars: int | None = Field(
        None, ge=1, description="Bars between out-of-sample starts (default test_bars)"
    )
    embargo_bars: int = Field(0, ge=0, le=10_000)
    expanding: bool = Field(
        False, description="Anchored in-sample windows from the range's start (else rolling)"
    )
    max_folds: int = Field(5, ge=1, le=20)
    start: datetime | None = None
    end: datetime | None = None

    @model_validator(mode="after")
    def _no_overlap(self) -> WalkForwardFolds:
        if self.step_bars is not None and self.step_bars < self.test_bars:
            raise ValueError(
                "step_bars must be >= test_bars: overlapping out-of-sample windows cannot be "
                "stitched"
            )
        return self


class WalkForwardCreate(BaseModel):
    """``POST /api/v1/walk-forward-optimizations``: for each fold a study (the fields of
    ``POST /api/v1/studies``) on the fold's in-sample window, its best parameters frozen and
    tested on the fold's out-of-sample window, the out-of-sample windows stitched.
    """

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    algorithm: Algorithm = "ppo"
    n_trials: int = Field(8, ge=1, description="Complete trials per fold's study")
    parallelism: int = Field(1, ge=1, description="Trials training at once per study")
    timesteps_per_trial: int = Field(10_000, ge=1)
    objective: Objective = Field(
        default_factory=Objective,
        description='Validation metric and direction (or just the metric name, "sharpe")',
    )
    search_space: dict[Annotated[str, StringConstraints(max_length=64)], dict[str, Any]] | None = (
        Field(None, max_length=64, description="As for studies; default: the algorithm's space")
    )
    seed: int = Field(0, ge=0, lt=2**31, description="Every fold's study uses this seed")
    sampler: SamplerName = "tpe"
    env: dict[str, Any] = Field(default_factory=dict)
    symbols: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        None, min_length=1, max_length=64
    )
    n_envs: int = Field(1, ge=1, le=64)
    hyperparams: dict[str, Any] = Field(
        default_factory=dict, description="Fixed hyperparameters of every trial (not searched)"
    )
    eval_every: int | None = Field(None, ge=1)
    folds: WalkForwardFolds
    validation_fraction: float = Field(
        0.15,
        gt=0,
        lt=0.5,
        description="Tail of each in-sample window that validates the trials (the objective)",
    )
    cost_bps: float | None = Field(
        None, ge=0, le=1000, description="Out-of-sample commission override (else the env's)"
    )
    slippage_bps: float | None = Field(None, ge=0, le=1000)

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        return {"metric": value} if isinstance(value, str) else value

    @field_validator("parallelism")
    @classmethod
    def _parallelism(cls, value: int, info: ValidationInfo) -> int:
        n_trials = info.data.get("n_trials")
        if n_trials is not None and value > n_trials:
            raise ValueError(f"parallelism ({value}) must not exceed n_trials ({n_trials})")
        return value


class FoldWindow(BaseModel):
    """A window of bars: ``start``/``end`` inclusive, ``bars`` its length."""

    start: datetime
    end: datetime
    bars: int


class WalkForwardFold(BaseModel):
    """One fold: its windows, its study and what its frozen parameters did out of sample."""

    index: int
    in_sample: FoldWindow
    train_end: datetime = Field(description="Trials train up to here; validate after it")
    out_of_sample: FoldWindow
    study_id: uuid.UUID
    study_status: str | None = None
    best_trial: dict[str, Any] | None = Field(
        None, description="{number, params, value}: the frozen parameters"
    )
    model_id: uuid.UUID | None = Field(
        None, description="The best trial's model, trained on exactly this in-sample window"
    )
    in_sample_objective: float | None = Field(
        None, description="The best trial's validation objective (in-sample)"
    )
    out_of_sample_objective: float | None = Field(
        None, description="The same metric of the frozen parameters on the out-of-sample window"
    )
    out_of_sample_metrics: dict[str, Any] | None = Field(
        None, description="Metrics of the frozen parameters on the out-of-sample window"
    )
    buy_and_hold_total_return: float | None = None


class WalkForwardRead(BaseModel):
    """A walk-forward optimisation: per fold the study and its frozen parameters, the stitched
    out-of-sample metrics against buy-and-hold, and the stability of the optimum.
    """

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    progress: float
    dataset_id: uuid.UUID
    algorithm: str
    objective: dict[str, Any]
    seed: int
    n_folds: int
    folds: list[WalkForwardFold]
    metrics: dict[str, Any] = Field(description="Stitched out-of-sample metrics")
    benchmarks: dict[str, Any] = Field(description='{"buy_and_hold": metrics} on the same bars')
    statistics: dict[str, Any]
    stability: dict[str, Any] = Field(
        description="parameters: per-parameter dispersion of the folds' best values; "
        "rank_correlations: Spearman of trial objectives between neighbouring folds over "
        "trials with identical parameters"
    )
    bars: dict[str, Any]
    request: dict[str, Any]
    job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
