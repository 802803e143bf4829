"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2017), "The probability of backtest overfitting",
Journal of Computational Finance 20(4). From a ``T x N`` matrix of the returns of ``N`` trials
(configurations tried on the same bars):

1. split the ``T`` rows into ``S`` (even) contiguous blocks of equal size (the last
   ``T mod S`` rows are dropped);
2. for every one of the ``C(S, S/2)`` ways to pick half of the blocks as in-sample (IS), the
   rest out-of-sample (OOS): pick the trial with the best IS Sharpe ratio, and find the relative
   rank ``ω`` of its OOS Sharpe among all trials (``rank / (N + 1)``) and its logit
   ``λ = ln(ω / (1 - ω))``;
3. **PBO** is the share of splits with ``λ < 0`` (the IS winner is below the OOS median;
   ``λ = 0``, the exact median, counts one half, so trials without any skill give 0.5 for every
   ``N``); the **performance degradation** is the least-squares slope of the winner's OOS
   Sharpe on its IS Sharpe across splits (negative: IS excellence does not carry over); the
   **probability of loss** is the share of splits whose winner has a negative OOS Sharpe.

Vectorised: per-block sums of returns and squared returns are combined for all splits with one
matrix product, so the cost is ``O(C(S, S/2) · N)``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

_EPS = 1e-14


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome (Sharpe ratios per bar; ``logits`` one per split, for plots)."""

    pbo: float
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    n_splits: int
    n_partitions: int
    n_trials: int
    n_obs: int
    logits_mean: float

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (JSON-safe)."""
        return asdict(self)


def _split_masks(n_partitions: int) -> np.ndarray:
    """``(C(S, S/2), S)`` boolean in-sample masks, every half of the blocks once."""
    combos = list(itertools.combinations(range(n_partitions), n_partitions // 2))
    mask = np.zeros((len(combos), n_partitions), dtype=bool)
    rows = np.repeat(np.arange(len(combos)), n_partitions // 2)
    mask[rows, np.array(combos).ravel()] = True
    return mask


def _sharpe(total: np.ndarray, total_sq: np.ndarray, count: int) -> np.ndarray:
    mean = total / count
    var = (total_sq - count * mean * mean) / max(count - 1, 1)
    ok = var > _EPS * _EPS
    return np.where(ok, mean / np.sqrt(np.where(ok, var, 1.0)), 0.0)


def probability_of_backtest_overfitting(
    returns: np.ndarray, *, n_partitions: int = 16
) -> PBOResult:
    """CSCV (see the module docstring) on ``returns``, a ``(T, N)`` matrix of trial returns.

    Args:
        returns: simple returns, one column per trial, rows in time order (same bars).
        n_partitions: ``S``, an even number of blocks (16 gives 12 870 splits).

    Returns:
        PBO, the degradation slope/intercept and the probability of loss.

    Raises:
        ValueError: fewer than 2 trials, an odd or too small ``S``, fewer than 2 rows per
            block, or non-finite returns.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError("returns must be a (T, N) matrix with N >= 2 trials")
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError("n_partitions must be an even number >= 2")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns contain NaN or inf")
    t, n = r.shape
    size = t // n_partitions
    if size < 2:
        raise ValueError(f"need at least {2 * n_partitions} rows for {n_partitions} partitions")
    blocks = r[: size * n_partitions].reshape(n_partitions, size, n)
    block_sum = blocks.sum(axis=1)  # (S, N)
    block_sq = (blocks * blocks).sum(axis=1)
    mask = _split_masks(n_partitions).astype(np.float64)  # (C, S)
    half = size * (n_partitions // 2)
    is_sr = _sharpe(mask @ block_sum, mask @ block_sq, half)  # (C, N)
    oos_sr = _sharpe((1 - mask) @ block_sum, (1 - mask) @ block_sq, half)
    best = np.argmax(is_sr, axis=1)
    rows = np.arange(best.size)
    best_oos = oos_sr[rows, best]
    below = (oos_sr < best_oos[:, None]).sum(axis=1)
    ties = (oos_sr == best_oos[:, None]).sum(axis=1) - 1
    rank = 1.0 + below + 0.5 * ties  # 1..N, mid-rank for ties
    omega = rank / (n + 1.0)
    logits = np.log(omega / (1.0 - omega))
    pbo = float(np.mean(logits < -_EPS) + 0.5 * np.mean(np.abs(logits) <= _EPS))
    best_is = is_sr[rows, best]
    if float(best_is.var()) > _EPS * _EPS:
        slope, intercept = (float(v) for v in np.polyfit(best_is, best_oos, 1))
    else:
        slope, intercept = 0.0, float(best_oos.mean())
    return PBOResult(
        pbo=pbo,
        degradation_slope=slope,
        degradation_intercept=intercept,
        probability_of_loss=float(np.mean(best_oos < 0)),
        n_splits=int(best.size),
        n_partitions=n_partitions,
        n_trials=n,
        n_obs=size * n_partitions,
        logits_mean=float(logits.mean()) if math.isfinite(float(logits.mean())) else 0.0,
    )
