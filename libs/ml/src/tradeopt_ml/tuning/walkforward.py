"""Walk-forward optimisation as pure computation: each fold's in-sample window as a run's
``start`` + date split, and what the folds' studies say about the stability of their optimum.

A walk-forward optimisation runs one study per fold on the fold's in-sample (training) window,
freezes the best trial's parameters and tests them on the next out-of-sample window
(:func:`tradeopt_ml.evaluation.walk_forward_report` stitches those windows). Two views of how
much the optimum moves between folds:

- :func:`parameter_stability`: the dispersion of each fold's best value of every searched
  hyperparameter — numbers: mean, standard deviation (ddof 1), interquartile range, min, max (and
  the same spread of ``log10`` values for log-scaled dimensions); categoricals: the modal value
  and its share of the folds (1.0: every fold chose it).
- :func:`neighbour_rank_correlations`: for each pair of neighbouring folds (k, k+1), the Spearman
  rank correlation of the trial objectives over the trials whose sampled parameters are
  identical in both folds (matched by value, not by trial number). The studies' samplers are
  seeded per trial number, so with the same seed the random start-up trials draw the same
  parameters in every fold; a correlation near 1 says the folds rank the same configurations
  the same way (the in-sample ranking carries over), near 0 or negative says it does not.
  ``None`` when fewer than three trials match or one side is constant.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.instants import iso_utc
from tradeopt_ml.tuning.spaces import AnyDistribution, CategoricalDistribution

#: Fewest matched trials for which a rank correlation is reported.
MIN_MATCHED_TRIALS = 3


@dataclass(frozen=True)
class InSampleWindow:
    """A fold's in-sample window as a training run asks for it.

    Attributes:
        start: first bar of the window (ISO 8601 UTC; the run's ``start``).
        train_end: last bar the run trains on (its ``split.train_end``).
        validation_end: last bar of the window (its ``split.validation_end``): the window's last
            ``validation_fraction`` validates (the study's objective and best-model selection).
    """

    start: str
    train_end: str
    validation_end: str

    def split(self) -> dict[str, str]:
        """The run's ``split``."""
        return {"train_end": self.train_end, "validation_end": self.validation_end}


def _iso(stamp: Any) -> str:
    return iso_utc(stamp)


def in_sample_window(
    timestamps: np.ndarray, train: tuple[int, int], validation_fraction: float
) -> InSampleWindow:
    """The run window of bars ``[train[0], train[1])`` whose last ``validation_fraction`` (at
    least 2 bars) is the validation part — the same cut as the evaluation service's
    walk-forward fold runs.

    Raises:
        ValueError: fewer than 10 training bars would remain.
    """
    start, stop = train
    n = stop - start
    n_val = max(2, round(n * validation_fraction))
    if n - n_val < 10:
        raise ValueError(
            f"an in-sample window of {n} bars leaves {n - n_val} training bars after the "
            f"validation tail of {n_val}; need at least 10"
        )
    return InSampleWindow(
        start=_iso(timestamps[start]),
        train_end=_iso(timestamps[stop - n_val - 1]),
        validation_end=_iso(timestamps[stop - 1]),
    )


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _numeric_spread(values: list[float]) -> dict[str, float | None]:
    arr = np.asarray(values, dtype=float)
    q25, q75 = np.percentile(arr, [25, 75])
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
        "iqr": float(q75 - q25),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def parameter_stability(
    best_params: Sequence[Mapping[str, Any]], space: Mapping[str, AnyDistribution]
) -> dict[str, dict[str, Any]]:
    """Per searched hyperparameter, the dispersion of the folds' best values (see the module
    docstring). ``best_params``: one mapping per fold, in fold order.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, dist in space.items():
        values = [p[name] for p in best_params if name in p]
        if isinstance(dist, CategoricalDistribution):
            keys = [json.dumps(v, sort_keys=True) for v in values]
            counts: dict[str, int] = {}
            for key in keys:
                counts[key] = counts.get(key, 0) + 1
            mode_key = max(counts, key=lambda k: (counts[k], -keys.index(k))) if keys else None
            out[name] = {
                "kind": "categorical",
                "values": values,
                "mode": json.loads(mode_key) if mode_key is not None else None,
                "mode_share": counts[mode_key] / len(keys) if mode_key is not None else None,
                "distinct": len(counts),
            }
            continue
        numbers = _finite(values)
        entry: dict[str, Any] = {"kind": "numeric", "values": values}
        entry.update(
            _numeric_spread(numbers)
            if numbers
            else dict.fromkeys(("mean", "std", "iqr", "min", "max"))
        )
        if dist.log and numbers and min(numbers) > 0:
            logs = _numeric_spread([math.log10(v) for v in numbers])
            entry["log10"] = {k: logs[k] for k in ("mean", "std", "iqr")}
        width = float(dist.high) - float(dist.low)
        std = entry["std"]
        entry["std_over_range"] = std / width if std is not None and width > 0 else None
        out[name] = entry
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation of paired values (average ranks for ties); ``None`` for
    fewer than :data:`MIN_MATCHED_TRIALS` pairs or a constant side.
    """
    if len(x) != len(y):
        raise ValueError(f"paired values of different lengths: {len(x)} and {len(y)}")
    if len(x) < MIN_MATCHED_TRIALS:
        return None
    rx = pd.Series(np.asarray(x, dtype=float)).rank().to_numpy()
    ry = pd.Series(np.asarray(y, dtype=float)).rank().to_numpy()
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True)


def neighbour_rank_correlations(
    fold_trials: Sequence[Sequence[tuple[Mapping[str, Any], float]]],
) -> list[dict[str, Any]]:
    """For each pair of neighbouring folds, the Spearman correlation of the objectives of the
    trials with identical parameters in both (see the module docstring).

    Args:
        fold_trials: per fold, in fold order, the complete trials as ``(params, value)``.

    Returns:
        ``[{"folds": [k, k + 1], "matched": n, "spearman": rho | None}, ...]``.
    """
    out: list[dict[str, Any]] = []
    for k in range(len(fold_trials) - 1):
        left = {_params_key(p): v for p, v in fold_trials[k] if math.isfinite(v)}
        right = {_params_key(p): v for p, v in fold_trials[k + 1] if math.isfinite(v)}
        shared = sorted(set(left) & set(right))
        rho = spearman([left[s] for s in shared], [right[s] for s in shared])
        out.append({"folds": [k, k + 1], "matched": len(shared), "spearman": rho})
    return out
