"""Cost sensitivity: the same strategy re-run at multiples of its trading costs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tradeopt_ml.evaluation.metrics import compute_metrics

#: What ``run`` may return: an equity array, or ``compute_metrics`` keyword arguments with
#: ``"equity"`` (e.g. ``{"equity": ..., "positions": ..., "costs": ...}``).
RunResult = np.ndarray | Mapping[str, Any]


def cost_sensitivity(
    run: Callable[[float], RunResult],
    *,
    bars_per_year: float,
    multipliers: Sequence[float] = (0.0, 1.0, 2.0, 3.0),
    benchmark: np.ndarray | None = None,
) -> list[dict[str, float | int | None]]:
    """Metrics of ``run(m)`` for every cost multiplier ``m`` (pure orchestration).

    ``run(cost_multiplier)`` executes the strategy with its costs scaled by ``m`` (0 = frictionless)
    and returns the equity curve or a mapping of :func:`compute_metrics` keyword arguments.
    Returns one metrics dict per multiplier, in the given order, each with a
    ``"cost_multiplier"`` key.
    """
    rows: list[dict[str, float | int | None]] = []
    for m in multipliers:
        result = run(float(m))
        kwargs: dict[str, Any] = dict(result) if isinstance(result, Mapping) else {"equity": result}
        if "equity" not in kwargs:
            raise ValueError("run() must return an equity array or a mapping with 'equity'")
        if benchmark is not None:
            kwargs.setdefault("benchmark", benchmark)
        equity = kwargs.pop("equity")
        metrics = compute_metrics(equity, bars_per_year=bars_per_year, **kwargs)
        rows.append({"cost_multiplier": float(m), **metrics})
    return rows
