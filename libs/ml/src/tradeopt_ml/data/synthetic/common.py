"""Shared pieces of the synthetic generators: constants, timestamps, correlated shocks and
OHLC/volume construction from a close path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from tradeopt_ml.data.bars import BAR_COLUMNS
from tradeopt_ml.data.panel import bars_per_year_for_step

SyntheticKind = Literal["gbm", "regime", "jump"]

#: API frequency names -> pandas offsets (daily bars are business days).
FREQUENCIES: dict[str, str] = {"1d": "B", "1h": "h", "1min": "min"}

_GAP = 0.25  # open gap noise, in bar volatilities
_RANGE = 0.5  # high/low extension scale, in bar volatilities
_VOLUME_SIGMA = 0.4  # lognormal volume noise
_VOLUME_MOVE = 0.3  # extra log-volume per bar-volatility of |return|
_HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)

DEFAULT_REGIME_MU: tuple[float, ...] = (0.15, -0.25)
DEFAULT_REGIME_SIGMA: tuple[float, ...] = (0.12, 0.30)
DEFAULT_TRANSITION: tuple[tuple[float, ...], ...] = ((0.995, 0.005), (0.02, 0.98))


def _symbols(symbols: str | Sequence[str]) -> list[str]:
    names = [symbols] if isinstance(symbols, str) else [str(s) for s in symbols]
    if not names:
        raise ValueError("at least one symbol is required")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate symbols: {names}")
    return sorted(names)


def _timestamps(bars: int, start: str | pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    if bars < 2:
        raise ValueError(f"bars must be >= 2, got {bars}")
    freq = FREQUENCIES.get(freq, freq)
    try:
        index = pd.date_range(pd.Timestamp(start), periods=bars, freq=freq, tz="UTC", unit="ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta) as exc:
        raise ValueError(
            f"{bars} bars of frequency {freq!r} from {start} run past the last representable "
            "timestamp (2262-04-11); use fewer bars, an earlier start or a shorter frequency"
        ) from exc
    if len(index) != bars:
        raise ValueError(f"could not lay out {bars} timestamps of frequency {freq!r}")
    return index


def _bars_per_year(index: pd.DatetimeIndex) -> float:
    """Same rule as :meth:`tradeopt_ml.data.Panel.bars_per_year`."""
    step = float(np.median(np.diff(index.asi8[: min(len(index), 1000)]))) / 1e9
    return bars_per_year_for_step(step)


def _per_symbol(value: float | Sequence[float], n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or one value per symbol ({n}), got {arr.shape}")
    return arr


def _check_positive(name: str, value: float | np.ndarray, *, allow_zero: bool = False) -> None:
    arr = np.asarray(value, dtype=np.float64)
    bad = (arr < 0) if allow_zero else (arr <= 0)
    if (~np.isfinite(arr)).any() or bad.any():
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {need}, got {value}")


def _normals(rng: np.random.Generator, bars: int, n: int, correlation: float) -> np.ndarray:
    """``(bars, n)`` standard normals, pairwise correlation ``correlation`` across symbols."""
    if n == 1:
        return rng.standard_normal((bars, 1))
    lower = -1.0 / (n - 1)
    if not lower < correlation <= 1.0:
        raise ValueError(
            f"correlation must be in ({lower:.4g}, 1] for {n} symbols, got {correlation}"
        )
    if correlation >= 0:
        common = rng.standard_normal((bars, 1))
        own = rng.standard_normal((bars, n))
        return math.sqrt(correlation) * common + math.sqrt(1.0 - correlation) * own
    cov = np.full((n, n), correlation)
    np.fill_diagonal(cov, 1.0)
    chol = np.linalg.cholesky(cov)
    return rng.standard_normal((bars, n)) @ chol.T


def _frame(
    symbols: list[str],
    index: pd.DatetimeIndex,
    log_returns: np.ndarray,
    bar_vol: np.ndarray,
    s0: np.ndarray,
    volume: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Close path from log returns, OHLC envelope and volume; long canonical frame."""
    bars, n = log_returns.shape
    log_close = np.log(s0)[None, :] + np.cumsum(log_returns, axis=0)
    close = np.exp(log_close)
    prev_close = np.empty_like(close)
    prev_close[0] = s0
    prev_close[1:] = close[:-1]
    noise = rng.standard_normal((4, bars, n))
    open_ = prev_close * np.exp(_GAP * bar_vol * noise[0])
    high = np.maximum(open_, close) * np.exp(_RANGE * bar_vol * np.abs(noise[1]))
    low = np.minimum(open_, close) * np.exp(-_RANGE * bar_vol * np.abs(noise[2]))
    move = np.abs(log_returns) / bar_vol - _HALF_NORMAL_MEAN
    log_volume = (
        math.log(volume)
        + _VOLUME_SIGMA * noise[3]
        - 0.5 * _VOLUME_SIGMA**2
        + _VOLUME_MOVE * np.clip(move, -3.0, 10.0)
    )
    vol = np.rint(np.exp(log_volume))
    stamps = pd.DatetimeIndex(np.tile(index.asi8, n).view("datetime64[ns]")).tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(np.array(symbols, dtype=object), bars),
            "timestamp": stamps,
            "open": open_.T.reshape(-1),
            "high": high.T.reshape(-1),
            "low": low.T.reshape(-1),
            "close": close.T.reshape(-1),
            "adj_close": close.T.reshape(-1),
            "volume": vol.T.reshape(-1),
        }
    )
    frame["symbol"] = frame["symbol"].astype(str)
    return frame.loc[:, list(BAR_COLUMNS)]
