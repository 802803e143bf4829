"""The generators: GBM, Markov regime switching, Merton jump diffusion, and ``generate``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data.synthetic.common import (
    DEFAULT_REGIME_MU,
    DEFAULT_REGIME_SIGMA,
    DEFAULT_TRANSITION,
    SyntheticKind,
    _bars_per_year,
    _check_positive,
    _frame,
    _normals,
    _per_symbol,
    _symbols,
    _timestamps,
)


def gbm(
    symbols: str | Sequence[str],
    bars: int,
    seed: int,
    mu: float | Sequence[float] = 0.07,
    sigma: float | Sequence[float] = 0.2,
    start: str | pd.Timestamp = "2000-01-03",
    freq: str = "B",
    s0: float | Sequence[float] = 100.0,
    correlation: float = 0.0,
    volume: float = 1e6,
) -> pd.DataFrame:
    """Geometric Brownian motion bars.

    Args:
        symbols: One symbol or several (rows come out sorted by symbol).
        bars: Bars per symbol (>= 2).
        seed: Seed for ``numpy.random.default_rng``.
        mu: Annualised drift (expected simple return), scalar or one per symbol.
        sigma: Annualised volatility (> 0), scalar or one per symbol.
        start: First timestamp (UTC).
        freq: pandas offset alias (``"B"``, ``"h"``, ``"min"``) or ``"1d"``/``"1h"``/``"1min"``.
        s0: Price before the first bar (> 0).
        correlation: Pairwise correlation of the symbols' shocks.
        volume: Typical volume per bar (> 0).

    Returns:
        A canonical bar frame.
    """
    names = _symbols(symbols)
    index = _timestamps(bars, start, freq)
    n = len(names)
    mu_v, sigma_v, s0_v = (
        _per_symbol(mu, n, "mu"),
        _per_symbol(sigma, n, "sigma"),
        _per_symbol(s0, n, "s0"),
    )
    _check_positive("sigma", sigma_v)
    _check_positive("s0", s0_v)
    _check_positive("volume", volume)
    dt = 1.0 / _bars_per_year(index)
    rng = np.random.default_rng(seed)
    z = _normals(rng, bars, n, correlation)
    bar_vol = sigma_v * math.sqrt(dt)
    log_returns = (mu_v - 0.5 * sigma_v**2) * dt + bar_vol * z
    return _frame(names, index, log_returns, np.broadcast_to(bar_vol, z.shape), s0_v, volume, rng)


def stationary_distribution(transition: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Stationary distribution ``pi`` (``pi @ P = pi``, sums to 1) of a Markov chain."""
    p = _transition(transition)
    k = p.shape[0]
    # Solve (P^T - I) pi = 0 with sum(pi) = 1 as a least-squares system.
    a = np.vstack([p.T - np.eye(k), np.ones((1, k))])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(a, b, rcond=None)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _transition(transition: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    p = np.asarray(transition, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ValueError(f"transition must be a square K x K matrix with K >= 2, got {p.shape}")
    if (~np.isfinite(p)).any() or (p < 0).any():
        raise ValueError("transition probabilities must be finite and >= 0")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-9, rtol=0):
        raise ValueError(f"each transition row must sum to 1, got {p.sum(axis=1).tolist()}")
    return p


def _markov_path(
    rng: np.random.Generator, bars: int, p: np.ndarray, initial: np.ndarray
) -> np.ndarray:
    """Regime path of a Markov chain, vectorised as a prefix composition of per-bar maps.

    Each bar draws one uniform ``u_t``; the map ``m_t(i)`` is the next state from ``i`` given
    ``u_t``. ``state_t = m_t o ... o m_1 (state_0)`` is computed for all ``t`` by doubling
    (Hillis-Steele scan), ``O(T K log T)`` with no Python loop over bars.
    """
    k = p.shape[0]
    u = rng.random(bars)
    cum = np.cumsum(p, axis=1)
    cum[:, -1] = 1.0 + 1e-12
    state0 = int(min(np.searchsorted(np.cumsum(initial), u[0], side="right"), k - 1))
    states = np.empty(bars, dtype=np.int64)
    states[0] = state0
    if bars == 1:
        return states
    # maps[t, i] = number of cumulative thresholds of row i that u_t has passed.
    maps = (u[1:, None, None] >= cum[None, :, :]).sum(axis=2).astype(np.int64)
    np.minimum(maps, k - 1, out=maps)
    d = 1
    while d < maps.shape[0]:
        maps[d:] = np.take_along_axis(maps[d:], maps[:-d], axis=1)
        d *= 2
    states[1:] = maps[:, state0]
    return states


def regime_switching_with_path(
    symbols: str | Sequence[str],
    bars: int,
    seed: int,
    regime_mu: Sequence[float] = DEFAULT_REGIME_MU,
    regime_sigma: Sequence[float] = DEFAULT_REGIME_SIGMA,
    transition: Sequence[Sequence[float]] | np.ndarray = DEFAULT_TRANSITION,
    initial: Sequence[float] | None = None,
    start: str | pd.Timestamp = "2000-01-03",
    freq: str = "B",
    s0: float | Sequence[float] = 100.0,
    correlation: float = 0.0,
    volume: float = 1e6,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Markov regime-switching GBM bars and the regime path.

    Args:
        symbols: One symbol or several.
        bars: Bars per symbol (>= 2).
        seed: Seed for ``numpy.random.default_rng``.
        regime_mu: Annualised drift per regime (default bull 15 %, bear -25 %).
        regime_sigma: Annualised volatility per regime (default 12 %, 30 %).
        transition: Per-bar ``K x K`` transition matrix, rows sum to 1.
        initial: Distribution of the first regime (default: stationary).
        start: First timestamp (UTC).
        freq: pandas offset alias or ``"1d"``/``"1h"``/``"1min"``.
        s0: Price before the first bar.
        correlation: Pairwise correlation of the symbols' shocks.
        volume: Typical volume per bar.

    Returns:
        ``(frame, regimes)`` with ``regimes`` the ``(bars,)`` int regime index of every bar.
    """
    names = _symbols(symbols)
    index = _timestamps(bars, start, freq)
    n = len(names)
    p = _transition(transition)
    k = p.shape[0]
    mu_k = np.asarray(regime_mu, dtype=np.float64)
    sigma_k = np.asarray(regime_sigma, dtype=np.float64)
    if mu_k.shape != (k,) or sigma_k.shape != (k,):
        raise ValueError(
            f"regime_mu and regime_sigma need one value per regime ({k}), "
            f"got {mu_k.shape} and {sigma_k.shape}"
        )
    _check_positive("regime_sigma", sigma_k)
    init = stationary_distribution(p) if initial is None else np.asarray(initial, np.float64)
    if init.shape != (k,) or (init < 0).any() or not math.isclose(init.sum(), 1.0, abs_tol=1e-9):
        raise ValueError(f"initial must be a probability vector of length {k}, got {initial}")
    s0_v = _per_symbol(s0, n, "s0")
    _check_positive("s0", s0_v)
    _check_positive("volume", volume)
    dt = 1.0 / _bars_per_year(index)
    rng = np.random.default_rng(seed)
    regimes = _markov_path(rng, bars, p, init)
    z = _normals(rng, bars, n, correlation)
    mu_t = mu_k[regimes][:, None]
    bar_vol = (sigma_k[regimes] * math.sqrt(dt))[:, None]
    log_returns = (mu_t - 0.5 * sigma_k[regimes][:, None] ** 2) * dt + bar_vol * z
    frame = _frame(names, index, log_returns, np.broadcast_to(bar_vol, z.shape), s0_v, volume, rng)
    return frame, regimes


def regime_switching(
    symbols: str | Sequence[str], bars: int, seed: int, **params: Any
) -> pd.DataFrame:
    """Markov regime-switching bars; see :func:`regime_switching_with_path` for parameters."""
    frame, _ = regime_switching_with_path(symbols, bars, seed, **params)
    return frame


def jump_diffusion_with_jumps(
    symbols: str | Sequence[str],
    bars: int,
    seed: int,
    mu: float | Sequence[float] = 0.07,
    sigma: float | Sequence[float] = 0.2,
    intensity: float = 5.0,
    jump_mean: float = -0.03,
    jump_std: float = 0.05,
    start: str | pd.Timestamp = "2000-01-03",
    freq: str = "B",
    s0: float | Sequence[float] = 100.0,
    correlation: float = 0.0,
    volume: float = 1e6,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Merton jump-diffusion bars and the number of jumps per bar.

    Args:
        symbols: One symbol or several (jumps are independent across symbols).
        bars: Bars per symbol (>= 2).
        seed: Seed for ``numpy.random.default_rng``.
        mu: Annualised expected simple return (the jump drift is compensated).
        sigma: Annualised diffusion volatility.
        intensity: Expected jumps per year (>= 0).
        jump_mean: Mean log jump size.
        jump_std: Standard deviation of the log jump size (>= 0).
        start: First timestamp (UTC).
        freq: pandas offset alias or ``"1d"``/``"1h"``/``"1min"``.
        s0: Price before the first bar.
        correlation: Pairwise correlation of the diffusion shocks.
        volume: Typical volume per bar.

    Returns:
        ``(frame, jumps)`` with ``jumps`` the ``(bars, n_symbols)`` jump counts (symbols sorted).
    """
    names = _symbols(symbols)
    index = _timestamps(bars, start, freq)
    n = len(names)
    mu_v, sigma_v, s0_v = (
        _per_symbol(mu, n, "mu"),
        _per_symbol(sigma, n, "sigma"),
        _per_symbol(s0, n, "s0"),
    )
    _check_positive("sigma", sigma_v)
    _check_positive("s0", s0_v)
    _check_positive("intensity", intensity, allow_zero=True)
    _check_positive("jump_std", jump_std, allow_zero=True)
    _check_positive("volume", volume)
    dt = 1.0 / _bars_per_year(index)
    rng = np.random.default_rng(seed)
    z = _normals(rng, bars, n, correlation)
    jumps = rng.poisson(intensity * dt, size=(bars, n))
    jump_z = rng.standard_normal((bars, n))
    jump_sizes = jumps * jump_mean + np.sqrt(jumps) * jump_std * jump_z
    compensator = intensity * (math.exp(jump_mean + 0.5 * jump_std**2) - 1.0)
    bar_vol = sigma_v * math.sqrt(dt)
    log_returns = (mu_v - 0.5 * sigma_v**2 - compensator) * dt + bar_vol * z + jump_sizes
    frame = _frame(names, index, log_returns, np.broadcast_to(bar_vol, z.shape), s0_v, volume, rng)
    return frame, jumps


def jump_diffusion(
    symbols: str | Sequence[str], bars: int, seed: int, **params: Any
) -> pd.DataFrame:
    """Merton jump-diffusion bars; see :func:`jump_diffusion_with_jumps` for parameters."""
    frame, _ = jump_diffusion_with_jumps(symbols, bars, seed, **params)
    return frame


_GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "gbm": gbm,
    "regime": regime_switching,
    "jump": jump_diffusion,
}


def generate(
    kind: SyntheticKind, symbols: str | Sequence[str], bars: int, seed: int, **params: Any
) -> pd.DataFrame:
    """Dispatch to :func:`gbm`, :func:`regime_switching` or :func:`jump_diffusion`.

    Args:
        kind: ``"gbm"``, ``"regime"`` or ``"jump"``.
        symbols: One symbol or several.
        bars: Bars per symbol.
        seed: Seed.
        **params: Keyword arguments of the chosen generator (``start``, ``freq``, model params).

    Returns:
        A canonical bar frame.
    """
    try:
        fn = _GENERATORS[kind]
    except KeyError:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose gbm, regime or jump") from None
    return fn(symbols, bars, seed, **params)
