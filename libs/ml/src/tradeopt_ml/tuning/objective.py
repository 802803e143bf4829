"""The objectives of a study, read from a finished training run's validation metrics.

A study optimises one objective or, with several (:data:`MAX_OBJECTIVES` at most, distinct
metrics), a Pareto front of them. Every metric is what the run reports in its validation block
(:func:`tradeopt_ml.training.experiment.summary_figures`), except ``max_drawdown``: the run
reports the drawdown as a non-positive fraction (``-0.25``), the objective is its **depth**
``-max_drawdown`` (``0.25`` = 25 % below the peak), so that "minimize max_drawdown" means what
it says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["maximize", "minimize"]
MetricName = Literal[
    "sharpe", "sortino", "calmar", "total_return", "max_drawdown", "volatility", "turnover"
]

#: Validation metrics a study can optimise, with their natural direction (the default one).
OBJECTIVE_METRICS: dict[str, Direction] = {
    "sharpe": "maximize",
    "sortino": "maximize",
    "calmar": "maximize",
    "total_return": "maximize",
    "max_drawdown": "minimize",  # the depth, -max_drawdown >= 0 (see the module docstring)
    "volatility": "minimize",
    "turnover": "minimize",
}
#: Most objectives of one study (Optuna's Pareto plots show 2 or 3; NSGA-II copes with 4).
MAX_OBJECTIVES = 4
#: Metrics whose objective value is the negated reported value.
_NEGATED = frozenset({"max_drawdown"})


class ObjectiveUnavailable(ValueError):
    """The run's metrics hold no finite value for the objective (the trial fails with this)."""


class Objective(BaseModel):
    """One objective of a study: a validation metric of the trial's run, and its direction
    (default: the metric's natural one, :data:`OBJECTIVE_METRICS`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: MetricName = Field("sharpe", description="Validation metric of the trial's run.")
    direction: Direction = Field(
        "maximize",
        description="Whether a larger or a smaller value is better (default: the metric's "
        "natural direction: minimize for max_drawdown (its depth), volatility and turnover)",
    )

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"metric": data}
        if isinstance(data, Mapping) and data.get("direction") is None:
            metric = data.get("metric", "sharpe")
            if isinstance(metric, str) and metric in OBJECTIVE_METRICS:
                data = {**data, "direction": OBJECTIVE_METRICS[metric]}
        return data


def objective_list(raw: Mapping[str, Any] | Sequence[Any] | None) -> list[Objective]:
    """The objectives stored on a study: a list of ``{metric, direction}`` (or one such dict,
    the single-objective form of older rows); none stored means the default objective.
    """
    if raw is None or (isinstance(raw, Mapping | Sequence) and len(raw) == 0):
        return [Objective()]
    if isinstance(raw, Mapping):
        return [Objective.model_validate(raw)]
    return [Objective.model_validate(item) for item in raw]


def duplicate_metrics(objectives: Sequence[Objective]) -> list[str]:
    """Metrics named more than once (a study's objectives must be distinct)."""
    seen: set[str] = set()
    dupes: list[str] = []
    for objective in objectives:
        if objective.metric in seen and objective.metric not in dupes:
            dupes.append(objective.metric)
        seen.add(objective.metric)
    return dupes


def primary_index(objectives: Sequence[Objective]) -> int:
    """The objective a single-number summary uses: the first Sharpe objective, else the first."""
    return next((i for i, o in enumerate(objectives) if o.metric == "sharpe"), 0)


def objective_value(metrics: Mapping[str, Any] | None, objective: Objective) -> float:
    """The objective of a finished run from its ``metrics`` (``{"validation": {...}, ...}`` as
    the training service reports them, or the validation block itself).

    Raises:
        ObjectiveUnavailable: the metric is missing, not a number, or not finite.
    """
    block: Mapping[str, Any] = metrics or {}
    if isinstance(block.get("validation"), Mapping):
        block = block["validation"]
    value = block.get(objective.metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ObjectiveUnavailable(
            f"the run reported no validation {objective.metric!r} (got {value!r})"
        )
    if not math.isfinite(float(value)):
        raise ObjectiveUnavailable(f"the run's validation {objective.metric!r} is {value}")
    # -0.0 for a curve that never fell is reported as 0.0
    return -float(value) + 0.0 if objective.metric in _NEGATED else float(value)


def objective_values(
    metrics: Mapping[str, Any] | None, objectives: Sequence[Objective]
) -> list[float]:
    """Every objective of a finished run, in order (see :func:`objective_value`).

    Raises:
        ObjectiveUnavailable: one of them is missing or not finite.
    """
    return [objective_value(metrics, objective) for objective in objectives]
