"""Baseline strategies as target-position arrays (no execution, no costs).

Every function returns ``(T, N)`` float64 target weights in ``[-1, 1]`` for a
:class:`~tradeopt_ml.data.Panel`. Row ``t`` is **decided at bar t's close using data of bars
<= t only** (signals read ``adj_close``); the backtest engine (built on
:mod:`tradeopt_ml.execution`) executes them with its own fill timing (e.g. bar ``t+1``'s open)
and costs. Before an indicator has enough history the position is flat (0).

Weights are per-asset signals scaled by ``gross / N`` (default ``gross = 1``): with several
assets the book's gross exposure stays <= ``gross``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tradeopt_ml.data import Panel

BASELINES: tuple[str, ...] = ("buy_and_hold", "flat", "random", "sma_crossover", "momentum")


def _scale(signal: np.ndarray, gross: float) -> np.ndarray:
    if not 0 < gross <= 1:
        raise ValueError("gross must be in (0, 1]")
    return np.ascontiguousarray(signal * (gross / signal.shape[1]), dtype=np.float64)


def buy_and_hold(panel: Panel, *, gross: float = 1.0) -> np.ndarray:
    """Long every asset from the first bar on (equal weight)."""
    return _scale(np.ones((panel.n_bars, panel.n_assets)), gross)


def flat(panel: Panel) -> np.ndarray:
    """Never invested."""
    return np.zeros((panel.n_bars, panel.n_assets))


def random(
    panel: Panel,
    *,
    seed: int = 0,
    levels: tuple[float, ...] = (-1.0, 0.0, 1.0),
    hold_bars: int = 1,
    gross: float = 1.0,
) -> np.ndarray:
    """Uniform random choice among ``levels`` per asset, redrawn every ``hold_bars`` bars.

    Seeded (``numpy.random.default_rng(seed)``); independent of prices, hence trivially free of
    look-ahead.
    """
    if hold_bars < 1:
        raise ValueError("hold_bars must be >= 1")
    lv = np.asarray(levels, dtype=np.float64)
    if np.any(np.abs(lv) > 1):
        raise ValueError("levels must be in [-1, 1]")
    rng = np.random.default_rng(seed)
    n_draws = -(-panel.n_bars // hold_bars)
    draws = lv[rng.integers(0, lv.size, size=(n_draws, panel.n_assets))]
    return _scale(np.repeat(draws, hold_bars, axis=0)[: panel.n_bars], gross)


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values ending at each row; ``nan`` before the first full window."""
    csum = np.cumsum(values, axis=0)
    out = np.full_like(values, np.nan)
    out[window - 1] = csum[window - 1] / window
    out[window:] = (csum[window:] - csum[:-window]) / window
    return out


def sma_crossover(
    panel: Panel, fast: int = 20, slow: int = 50, *, allow_short: bool = False, gross: float = 1.0
) -> np.ndarray:
    """Long when the ``fast``-bar SMA of ``adj_close`` is above the ``slow``-bar SMA.

    Otherwise flat (or short with ``allow_short``). Flat until ``slow`` bars exist.
    """
    if not 1 <= fast < slow:
        raise ValueError("need 1 <= fast < slow")
    px = panel.adj_close
    if panel.n_bars < slow:
        return np.zeros_like(px)
    f = _trailing_mean(px, fast)
    s = _trailing_mean(px, slow)
    ready = ~np.isnan(s)
    above = np.where(ready, f > s, False)
    below = np.where(ready, f < s, False)
    signal = above.astype(np.float64) - (below.astype(np.float64) if allow_short else 0.0)
    return _scale(signal, gross)


def momentum(
    panel: Panel, lookback: int = 126, *, allow_short: bool = False, gross: float = 1.0
) -> np.ndarray:
    """Long when ``adj_close[t] / adj_close[t - lookback] > 1`` (time-series momentum).

    Otherwise flat (or short with ``allow_short``). Flat for the first ``lookback`` bars.
    """
    if lookback < 1:
        raise ValueError("lookback must be >= 1")
    px = panel.adj_close
    signal = np.zeros_like(px)
    if panel.n_bars > lookback:
        change = px[lookback:] / px[:-lookback] - 1.0
        signal[lookback:] = (change > 0).astype(np.float64)
        if allow_short:
            signal[lookback:] -= (change < 0).astype(np.float64)
    return _scale(signal, gross)


def baseline_positions(name: str, panel: Panel, **params: object) -> np.ndarray:
    """Dispatch by name (one of :data:`BASELINES`) with the baseline's keyword parameters."""
    table: dict[str, Callable[..., np.ndarray]] = {
        "buy_and_hold": buy_and_hold,
        "flat": flat,
        "random": random,
        "sma_crossover": sma_crossover,
        "momentum": momentum,
    }
    if name not in table:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return table[name](panel, **params)


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scaled(_NoParams):
    gross: float = Field(1.0, gt=0, le=100, description="Gross exposure of the book.")


class _RandomParams(_Scaled):
    seed: int = Field(0, ge=0, lt=2**31)
    levels: tuple[float, ...] = Field((-1.0, 0.0, 1.0), min_length=1, max_length=16)
    hold_bars: int = Field(1, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _levels(self) -> _RandomParams:
        if any(not -1 <= level <= 1 for level in self.levels):
            raise ValueError("levels must be in [-1, 1]")
        return self


class _SmaParams(_Scaled):
    fast: int = Field(20, ge=1, le=100_000)
    slow: int = Field(50, ge=2, le=100_000)
    allow_short: bool = False

    @model_validator(mode="after")
    def _order(self) -> _SmaParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be < slow ({self.slow})")
        return self


class _MomentumParams(_Scaled):
    lookback: int = Field(126, ge=1, le=100_000)
    allow_short: bool = False


_PARAMS: dict[str, type[BaseModel]] = {
    "buy_and_hold": _Scaled,
    "flat": _NoParams,
    "random": _RandomParams,
    "sma_crossover": _SmaParams,
    "momentum": _MomentumParams,
}


def validate_baseline_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The keyword parameters of baseline ``name`` checked (unknown keys, ranges, ``fast <
    slow``), as given (defaults not filled in).

    Raises:
        ValueError: unknown baseline or bad parameters, with a message naming them.
    """
    if name not in _PARAMS:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    try:
        _PARAMS[name].model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"bad parameters for baseline {name!r}: {problems}") from None
    return dict(params)
