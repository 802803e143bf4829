"""The objective of a study, read from a finished training run's validation metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Validation metrics a study can optimise (names as in DESIGN §3.1), with their natural direction.
OBJECTIVE_METRICS: dict[str, Literal["maximize", "minimize"]] = {
    "sharpe": "maximize",
    "sortino": "maximize",
    "calmar": "maximize",
    "total_return": "maximize",
}


class ObjectiveUnavailable(ValueError):
    """The run's metrics hold no finite value for the objective (the trial fails with this)."""


class Objective(BaseModel):
    """What a study optimises: one validation metric of the trial's run, and the direction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["sharpe", "sortino", "calmar", "total_return"] = Field(
        "sharpe", description="Validation metric of the trial's run."
    )
    direction: Literal["maximize", "minimize"] = Field(
        "maximize", description="Whether a larger or a smaller value is better."
    )


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
    return float(value)
