"""Reward shapes, vectorised over a batch of portfolios (``(B,)`` arrays in, ``(B,)`` out).

They are elementwise, so they also take Python floats (one portfolio; the single-env fast path)
and give bit-identical results: numpy's ``log`` is used for both, never ``math.log`` (the two
may differ in the last bit).
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-12
_log = np.log


def log_return(value_before: np.ndarray, value_after: np.ndarray) -> np.ndarray:
    """``log(V_after / V_before)``; a wiped-out portfolio is floored at a tiny positive value."""
    if isinstance(value_after, np.ndarray):
        return _log(np.maximum(value_after, _TINY) / value_before)
    return _log((_TINY if value_after < _TINY else value_after) / value_before)


def drawdown_penalised(
    log_ret: np.ndarray, value: np.ndarray, peak: np.ndarray, penalty: float
) -> np.ndarray:
    """``log_ret - penalty * (1 - value / peak)`` where ``peak`` already includes ``value``."""
    return log_ret - penalty * (1.0 - value / peak)


def differential_sharpe(
    ret: np.ndarray, mean: np.ndarray, mean_sq: np.ndarray, eta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moody & Saffell's differential Sharpe ratio.

    Args:
        ret: ``(B,)`` this step's return.
        mean: ``(B,)`` exponential moving average of returns before this step (``A``).
        mean_sq: ``(B,)`` exponential moving average of squared returns before this step (``B``).
        eta: adaptation rate.

    Returns:
        ``(dsr, new_mean, new_mean_sq)``; the ratio is 0 until the variance estimate is positive.
    """
    d_mean = ret - mean
    d_sq = ret * ret - mean_sq
    var = mean_sq - mean * mean
    ok = var > _TINY
    dsr = np.where(ok, (mean_sq * d_mean - 0.5 * mean * d_sq) / np.where(ok, var, 1.0) ** 1.5, 0.0)
    return dsr, mean + eta * d_mean, mean_sq + eta * d_sq
