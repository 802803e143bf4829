"""Request and response models of the tuning service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tradeopt_ml.instants import UtcDateTime
from tradeopt_ml.tuning import MAX_OBJECTIVES, Objective, duplicate_metrics

Algorithm = Literal["ppo", "a2c", "dqn", "sac", "td3"]
SamplerName = Literal["tpe", "random", "cmaes", "qmc", "gp", "nsga2"]
PrunerName = Literal["median", "successive_halving", "hyperband", "none"]


class StudyCreate(BaseModel):
    """``POST /api/v1/studies`` (DESIGN §3.1). Each trial is a ``POST /api/v1/runs`` of
    ``algorithm`` on ``dataset_id`` with ``env``, ``split``, ``symbols``, ``n_envs``, the fixed
    ``hyperparams`` and the trial's sampled values, trained for ``timesteps_per_trial``.
    """

    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    algorithm: Algorithm = "ppo"
    n_trials: int = Field(20, ge=1, description="Trials that must complete")
    parallelism: int = Field(1, ge=1, description="Trials training at once (<= n_trials)")
    timesteps_per_trial: int = Field(10_000, ge=1)
    objective: Objective | None = Field(
        None,
        description="The objective of a single-objective study: validation metric and direction, "
        'or just the metric name ("sharpe"); default sharpe, maximize. Or give objectives.',
    )
    objectives: list[Objective] | None = Field(
        None,
        min_length=1,
        max_length=MAX_OBJECTIVES,
        description="Several objectives (distinct metrics, at most "
        f"{MAX_OBJECTIVES}): a multi-objective study whose result is the Pareto front "
        "(best_trials). Not with objective; no pruner; sampler not cmaes.",
    )
    search_space: dict[Annotated[str, StringConstraints(max_length=64)], dict[str, Any]] | None = (
        Field(
            None,
            description='{name: {"type": "float"|"int"|"categorical", "low", "high", "log", '
            '"step", "choices"}}; default: the algorithm\'s space '
            "(GET /api/v1/studies/search-spaces/{algorithm})",
            max_length=64,
        )
    )
    seed: int = Field(0, ge=0, lt=2**31)
    sampler: SamplerName = "tpe"
    pruner: PrunerName = "none"
    env: dict[str, Any] = Field(default_factory=dict)
    split: dict[str, Any] = Field(default_factory=dict)
    symbols: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        None, min_length=1, max_length=64
    )
    n_envs: int = Field(1, ge=1, le=64)
    hyperparams: dict[str, Any] = Field(
        default_factory=dict, description="Fixed hyperparameters of every trial (not searched)"
    )
    eval_every: int | None = Field(
        None,
        ge=1,
        description="Timesteps between the runs' evaluations on the validation split; required "
        "(and below timesteps_per_trial) with a pruner: each evaluation is an intermediate value",
    )
    start: UtcDateTime | None = Field(
        None, description="Trials train on bars from this instant on (a walk-forward window)"
    )

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        return {"metric": value} if isinstance(value, str) else value

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"metric": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[Objective] | None, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if info.data.get("objective") is not None:
            raise ValueError("give either objective (one) or objectives (a list), not both")
        dupes = duplicate_metrics(value)
        if dupes:
            raise ValueError(f"each metric at most once; repeated: {', '.join(dupes)}")
        return value

    def objective_list(self) -> list[Objective]:
        """The study's objectives, in order (``objective`` alone is a list of one)."""
        if self.objectives:
            return list(self.objectives)
        return [self.objective or Objective()]

    @field_validator("parallelism")
    @classmethod
    def _parallelism(cls, value: int, info: ValidationInfo) -> int:
        n_trials = info.data.get("n_trials")
        if n_trials is not None and value > n_trials:
            raise ValueError(f"parallelism ({value}) must not exceed n_trials ({n_trials})")
        return value


class BestTrial(BaseModel):
    """The best complete trial so far."""

    number: int
    params: dict[str, Any]
    value: float
    model_id: uuid.UUID | None = None


class ParetoTrial(BaseModel):
    """A complete trial on the Pareto front of a multi-objective study (no other complete trial
    is at least as good in every objective and better in one).
    """

    number: int
    params: dict[str, Any]
    values: list[float] = Field(description="every objective's value, in the study's order")
    model_id: uuid.UUID | None = None
    alias: str | None = Field(None, description="the model's registry alias as a Pareto member")


class StudyRead(BaseModel):
    """A study (DESIGN §3.1: ``{id, status, progress, n_trials, n_complete, best_trial:
    {number, params, value}, best_model_id}``).
    """

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    progress: float
    dataset_id: uuid.UUID
    algorithm: str
    n_trials: int
    parallelism: int
    timesteps_per_trial: int
    objective: dict[str, Any] = Field(description="the (first) objective: {metric, direction}")
    objectives: list[dict[str, Any]] = Field(
        default_factory=list, description="every objective, in order (one for most studies)"
    )
    seed: int
    sampler: str
    pruner: str
    search_space: dict[str, Any]
    n_complete: int
    n_failed: int
    n_pruned: int = Field(
        0, description="Trials the pruner stopped during training (count toward n_trials)"
    )
    n_running: int
    best_trial: BestTrial | None = Field(
        description="single objective: the best complete trial (null for several objectives)"
    )
    best_model_id: uuid.UUID | None
    best_trials: list[ParetoTrial] | None = Field(
        None,
        description="several objectives: the Pareto front of the complete trials, by number "
        "(null for a single objective)",
    )
    overfitting: dict[str, Any] | None = Field(
        None,
        description="Once the study has finished: the probability of backtest overfitting "
        "(CSCV over the complete trials' validation returns: pbo, degradation_slope, "
        "probability_of_loss, ...) or {available: false, reason}",
    )
    job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _objectives_of_row(cls, data: Any) -> Any:
        # a Study row: every objective (rows before multi-objective studies hold only one)
        if not isinstance(data, dict) and hasattr(data, "objective_list"):
            return {
                **{name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)},
                "objectives": [o.model_dump() for o in data.objective_list],
            }
        return data


class TrialRead(BaseModel):
    """One trial: its sampled parameters, objective value, state and training run."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    params: dict[str, Any]
    value: float | None = Field(description="the (first) objective's value")
    values: list[float] | None = Field(
        None, description="every objective's value of a complete trial, in the study's order"
    )
    state: str
    run_id: uuid.UUID | None
    model_id: uuid.UUID | None
    intermediate_values: dict[int, float] = Field(
        default_factory=dict,
        description="Intermediate values told to the pruner by timesteps (the run's periodic "
        "evaluations: mean validation episode reward, negated for a minimize objective)",
    )
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    duration: float | None = Field(None, description="Seconds from start to end")

    @model_validator(mode="after")
    def _duration(self) -> TrialRead:
        if self.finished_at is not None:
            self.duration = round((self.finished_at - self.started_at).total_seconds(), 3)
        return self


class SearchSpaceRead(BaseModel):
    """The default search space of one algorithm."""

    algorithm: str
    search_space: dict[str, dict[str, Any]]


class SamplersRead(BaseModel):
    """What this deployment can use."""

    samplers: list[str]
    pruners: list[str]
    objectives: list[str]
    multi_objective_samplers: list[str] = Field(
        default_factory=list, description="samplers that accept several objectives"
    )
    max_objectives: int = Field(1, description="most objectives of one study")


class ImportancesRead(BaseModel):
    """Parameter importances of a study (fANOVA over its complete trials)."""

    study_id: uuid.UUID
    evaluator: Literal["fanova"] = "fanova"
    seed: int = Field(description="seed of the evaluator's random forest (the study's seed)")
    n_complete: int = Field(description="complete trials the importances are computed from")
    metric: str = Field(description="the objective they are about (the target)")
    importances: dict[str, float] = Field(
        description="searched parameter -> importance (sums to 1), most important first"
    )


class HistoryPointRead(BaseModel):
    """One trial of a study's objective history."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    state: str
    value: float | None = Field(description="the objective, for complete trials")
    best_so_far: float | None = Field(
        description="best objective of the complete trials up to this one (by the direction)"
    )


class HistoryRead(BaseModel):
    """The objective (``target`` of a multi-objective study) per trial, by number, with the
    best so far.
    """

    study_id: uuid.UUID
    direction: Literal["maximize", "minimize"]
    metric: str
    trials: list[HistoryPointRead]
