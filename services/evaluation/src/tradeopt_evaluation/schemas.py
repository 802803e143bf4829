"""Request and response models of the evaluation service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeopt_ml.data.splits import SplitSpec
from tradeopt_ml.evaluation.baselines import validate_baseline_params
from tradeopt_ml.instants import UtcDateTime, UtcEndDateTime

Baseline = Literal["buy_and_hold", "flat", "random", "sma_crossover", "momentum"]
Part = Literal["train", "validation", "test"]


class _Bars(BaseModel):
    """Which bars: a split part of the dataset, or a date range (inclusive)."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    split: Part | None = None
    start: UtcDateTime | None = None
    end: UtcEndDateTime | None = None
    cost_bps: float | None = Field(None, ge=0, le=1000)
    slippage_bps: float | None = Field(None, ge=0, le=1000)
    level: float = Field(
        0.05,
        gt=0,
        le=0.2,
        description="Level of the verdicts (family-wise for the adjusted p-values)",
    )

    @model_validator(mode="after")
    def _bars(self) -> _Bars:
        if self.split is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either 'split' or 'start'/'end', not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("'start' must be before 'end'")
        if self.split is None and self.start is None and self.end is None:
            self.split = "test"  # out of sample by default (DESIGN §6)
        return self


class EvaluationCreate(_Bars):
    """``POST /api/v1/evaluations``: a model or a baseline on a split or date range.

    One rule for split parts: ``split`` names a part of the evaluated model's own split (its
    lineage), or, for a baseline, of ``split_spec`` (default 70/15/15). A baseline given the
    model run's ``split`` as ``split_spec`` covers the same dates as the model.
    """

    model_id: uuid.UUID | None = None
    baseline: Baseline | None = None
    baseline_params: dict[str, Any] = Field(default_factory=dict)
    split_spec: SplitSpec | None = Field(
        None,
        description="How a baseline's bars are cut into train/validation/test (a run's "
        "'split': fractions or dates); default 70/15/15. A model is always evaluated on its "
        "own split.",
    )

    @model_validator(mode="after")
    def _subject(self) -> EvaluationCreate:
        if (self.model_id is None) == (self.baseline is None):
            raise ValueError("give exactly one of 'model_id' or 'baseline'")
        if self.baseline_params and self.baseline is None:
            raise ValueError("'baseline_params' needs a 'baseline'")
        if self.baseline is not None:
            validate_baseline_params(self.baseline, self.baseline_params)
        if self.split_spec is not None:
            if self.model_id is not None:
                raise ValueError(
                    "'split_spec' is for a baseline: a model is evaluated on its own split "
                    "(its lineage)"
                )
            if self.split is None:
                raise ValueError("'split_spec' cuts the parts 'split' names: give 'split'")
        return self


class EvaluationCompare(_Bars):
    """``POST /api/v1/evaluations/compare``: several models (and baselines) on the same bars."""

    model_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    baselines: list[Baseline] = Field(default_factory=lambda: ["buy_and_hold"], max_length=5)

    @model_validator(mode="after")
    def _distinct(self) -> EvaluationCompare:
        if len(set(self.model_ids)) != len(self.model_ids):
            raise ValueError("'model_ids' must not repeat")
        return self


class FoldLayout(BaseModel):
    """Walk-forward folds in bars of the dataset (see ``GET /api/v1/datasets/{id}/splits``)."""

    model_config = ConfigDict(extra="forbid")

    train_bars: int = Field(ge=30, le=1_000_000)
    test_bars: int = Field(ge=5, le=1_000_000)
    step_bars: int | None = Field(None, ge=1)
    embargo_bars: int = Field(0, ge=0, le=10_000)
    expanding: bool = False
    max_folds: int = Field(10, ge=1, le=20)
    start: UtcDateTime | None = None
    end: UtcEndDateTime | None = None

    @model_validator(mode="after")
    def _no_overlap(self) -> FoldLayout:
        if self.step_bars is not None and self.step_bars < self.test_bars:
            raise ValueError(
                "step_bars must be >= test_bars: overlapping test windows cannot be stitched"
            )
        return self


class WalkForwardEvaluationCreate(BaseModel):
    """``POST /api/v1/evaluations/walk-forward``: train one run per fold (training service) on the
    fold's training window, evaluate it on the fold's test window, stitch the test windows.
    """

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    run: dict[str, Any] = Field(
        description="A run request (algorithm, total_timesteps, seed, env, hyperparams, ...) "
        "without dataset_id, split and start, which each fold sets"
    )
    folds: FoldLayout
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    cost_bps: float | None = Field(None, ge=0, le=1000)
    slippage_bps: float | None = Field(None, ge=0, le=1000)
    deadline_hours: float = Field(
        24.0,
        gt=0,
        le=720,
        description="Give up after this long (fold runs canceled, the evaluation failed with the "
        "reason) instead of waiting forever on a run that never ends",
    )

    @model_validator(mode="after")
    def _template(self) -> WalkForwardEvaluationCreate:
        reserved = sorted({"dataset_id", "split", "start"} & set(self.run))
        if reserved:
            raise ValueError(f"'run' must not set {', '.join(reserved)}: each fold sets them")
        return self


VerdictName = Literal["beats", "worse", "not distinguishable"]


class PairVerdictRead(BaseModel):
    """One candidate (or run spec) vs one benchmark on the same bars."""

    subject: str = Field(description="The candidate (``model:<id>``, a baseline, or a spec)")
    benchmark: str
    verdict: VerdictName = Field(
        description="``beats``/``worse`` when the adjusted p-value of the Sharpe difference is "
        "below ``level``, else ``not distinguishable``"
    )
    level: float
    test: str = Field(description="The test behind the verdict")
    sharpe_difference: float = Field(description="Annualised Sharpe(subject) - Sharpe(benchmark)")
    sharpe_difference_ci: list[float | None] = Field(
        description="Studentized bootstrap CI of the Sharpe difference at 1 - level"
    )
    p_value: float = Field(description="Two-sided p-value of this pair alone")
    p_value_adjusted: float = Field(
        description="Romano-Wolf step-down p-value over the family (every candidate vs this "
        "benchmark): the one the verdict uses"
    )
    mean_return_difference: float = Field(description="Annualised mean simple return difference")
    mean_return_difference_ci: list[float | None]
    mean_p_value: float
    mean_p_value_adjusted: float
    family_size: int = Field(description="Candidates tested against this benchmark together")


class FamilyTestRead(BaseModel):
    """Hansen's SPA test (``arch``): can any candidate beat the benchmark's mean return?"""

    benchmark: str
    candidates: list[str]
    test: str
    p_value: float = Field(description="SPA consistent p-value")
    p_value_lower: float
    p_value_upper: float
    superior: list[str] = Field(description="Candidates StepM finds better at ``level``")


class SeedDistribution(BaseModel):
    """One figure across the seeds of a run spec (CI: Student t of the mean)."""

    mean: float
    std: float
    min: float
    max: float
    ci_low: float
    ci_high: float
    n: float


class SpecRobustnessRead(BaseModel):
    """A run spec evaluated over several seeds: distribution and verdicts about the spec."""

    spec: str = Field(description="``spec:<algorithm>:<hash of the recipe without its seed>``")
    subjects: list[str]
    seeds: list[int]
    sharpe: SeedDistribution
    total_return: SeedDistribution
    verdicts: list[PairVerdictRead] = Field(
        description="Mean over seeds of the Sharpe difference; its standard error includes the "
        "between-seed variance; adjusted over the specs"
    )


class PBORead(BaseModel):
    """Probability of backtest overfitting (CSCV) over the candidates' returns."""

    pbo: float
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    n_splits: int
    n_partitions: int
    n_trials: int
    n_obs: int
    logits_mean: float


class VerdictsRead(BaseModel):
    """Paired verdicts of the candidates vs each benchmark, with multiple-testing control."""

    available: bool
    reason: str | None = None
    level: float | None = None
    test: str | None = None
    adjustment: str | None = None
    block_length: int | None = None
    n_resamples: int | None = None
    n_obs: int | None = None
    seed: int | None = None
    bars_per_year: float | None = None
    candidates: list[str] = Field(default_factory=list)
    pairs: list[PairVerdictRead] = Field(default_factory=list)
    families: list[FamilyTestRead] = Field(default_factory=list)
    specs: list[SpecRobustnessRead] = Field(default_factory=list)
    pbo: PBORead | None = None


class EvaluationRead(BaseModel):
    """An evaluation (DESIGN §3.1: ``{id, status, metrics, benchmarks, sharpe_ci,
    deflated_sharpe}``).
    """

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    kind: str
    dataset_id: uuid.UUID
    dataset_checksum: str
    model_id: uuid.UUID | None
    baseline: str | None
    subjects: list[str]
    part: str | None
    start: datetime | None
    end: datetime | None
    cost_bps: float | None
    slippage_bps: float | None
    metrics: dict[str, Any]
    benchmarks: dict[str, Any]
    statistics: dict[str, Any]
    diagnostics: dict[str, Any]
    cost_sensitivity: list[dict[str, Any]]
    comparison: list[dict[str, Any]]
    verdicts: VerdictsRead | None = Field(
        None, description="Paired tests vs the benchmarks (none for walk-forward evaluations)"
    )
    bars: dict[str, Any]
    job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    sharpe_ci: list[float] | None = None
    deflated_sharpe: float | None = None
    study_pbo: float | None = Field(
        None,
        description="For a tuned model: its study's probability of backtest overfitting "
        "(statistics.study holds the trial count and variance behind the deflated Sharpe too)",
    )

    @field_validator("verdicts", mode="before")
    @classmethod
    def _no_verdicts(cls, value: Any) -> Any:
        return value or None

    @model_validator(mode="after")
    def _flatten(self) -> EvaluationRead:
        ci = self.statistics.get("sharpe_ci")
        self.sharpe_ci = list(ci) if ci else None
        self.deflated_sharpe = self.statistics.get("deflated_sharpe")
        self.study_pbo = (self.statistics.get("study") or {}).get("pbo")
        return self
