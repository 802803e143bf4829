"""Seeded synthetic market data: GBM, Markov regime switching and Merton jump diffusion.

Every generator returns a canonical bar frame (:mod:`tradeopt_ml.data.bars`: ``symbol,
timestamp, open, high, low, close, adj_close, volume``, UTC, float64, sorted by
``(symbol, timestamp)``) that passes :func:`~tradeopt_ml.data.bars.validate_bars`. The same
arguments and seed give the same frame bit for bit (``numpy.random.default_rng(seed)``, draws in
a fixed order); everything is vectorised over bars and symbols.

Model notes:

- ``mu`` and ``sigma`` are annualised; the bar length ``dt = 1 / bars_per_year`` follows the
  same rule as :meth:`tradeopt_ml.data.Panel.bars_per_year` (252 for daily bars), so metrics
  computed on a generated panel recover the parameters.
- Log returns are ``(mu - sigma^2 / 2) dt + sigma sqrt(dt) Z``; with ``correlation`` = rho, the
  ``Z`` of different symbols are equicorrelated (one common factor).
- Regime switching: one Markov chain (per-bar ``transition`` matrix) drives every symbol; each
  regime has its own drift and volatility. The first regime is drawn from ``initial`` (default:
  the stationary distribution).
- Jump diffusion (Merton 1976): Poisson jumps with ``intensity`` per year and lognormal sizes
  ``N(jump_mean, jump_std^2)`` in log space, drift compensated so that ``mu`` stays the expected
  simple return.
- OHLC from the close path: ``open = previous close * exp(gap noise)``; ``high``/``low`` extend
  ``max/min(open, close)`` by half-normal multiples of the bar volatility (so ``high >=
  max(open, close)``, ``0 < low <= min(open, close)``); volume is lognormal and grows with the
  size of the bar's move. ``adj_close`` equals ``close`` (no corporate actions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from tradeopt_ml.data.bars import BAR_COLUMNS

__all__ = [
    "FREQUENCIES",
    "SyntheticKind",
    "SyntheticSpec",
    "gbm",
    "generate",
    "jump_diffusion",
    "jump_diffusion_with_jumps",
    "regime_switching",
    "regime_switching_with_path",
    "stationary_distribution",
]

SyntheticKind = Literal["gbm", "regime", "jump"]

#: API frequency names -> pandas offsets (daily bars are business days).
FREQUENCIES: dict[str, str] = {"1d": "B", "1h": "h", "1min": "min"}

_SECONDS_PER_DAY = 86_400.0
_GAP = 0.25  # open gap noise, in bar volatilities
_RANGE = 0.5  # high/low extension scale, in bar volatilities
_VOLUME_SIGMA = 0.4  # lognormal volume noise
_VOLUME_MOVE = 0.3  # extra log-volume per bar-volatility of |return|
_HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)

DEFAULT_REGIME_MU: tuple[float, ...] = (0.15, -0.25)
DEFAULT_REGIME_SIGMA: tuple[float, ...] = (0.12, 0.30)
DEFAULT_TRANSITION: tuple[tuple[float, ...], ...] = ((0.995, 0.005), (0.02, 0.98))


# --------------------------------------------------------------------------- helpers


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
    days = step / _SECONDS_PER_DAY
    if days >= 25:
        return 12.0
    if days >= 5:
        return 52.0
    if days >= 0.9:
        return 252.0
    return 252.0 * 6.5 * 3600.0 / step


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


# --------------------------------------------------------------------------- generators


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


_GENERATORS = {"gbm": gbm, "regime": regime_switching, "jump": jump_diffusion}


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


# --------------------------------------------------------------------------- API spec

_SYMBOL_PATTERN = r"^[A-Za-z0-9.\-_^=]{1,32}$"
Symbol = Annotated[str, StringConstraints(pattern=_SYMBOL_PATTERN)]
_MAX_TIMESTAMP = pd.Timestamp("2262-04-10", tz="UTC")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    s0: float = Field(default=100.0, gt=0, le=1e9)
    correlation: float = Field(default=0.0, ge=-1, le=1)
    volume: float = Field(default=1e6, gt=0, le=1e15)


class GbmParams(_Params):
    """Parameters of ``kind="gbm"``."""

    mu: float = Field(default=0.07, ge=-5, le=5)
    sigma: float = Field(default=0.2, gt=0, le=5)


class JumpParams(GbmParams):
    """Parameters of ``kind="jump"``."""

    intensity: float = Field(default=5.0, ge=0, le=10_000)
    jump_mean: float = Field(default=-0.03, ge=-2, le=2)
    jump_std: float = Field(default=0.05, ge=0, le=2)


class RegimeParams(_Params):
    """Parameters of ``kind="regime"``."""

    regime_mu: list[Annotated[float, Field(ge=-5, le=5)]] = Field(
        default_factory=lambda: list(DEFAULT_REGIME_MU), min_length=2, max_length=8
    )
    regime_sigma: list[Annotated[float, Field(gt=0, le=5)]] = Field(
        default_factory=lambda: list(DEFAULT_REGIME_SIGMA), min_length=2, max_length=8
    )
    transition: list[list[float]] = Field(
        default_factory=lambda: [list(r) for r in DEFAULT_TRANSITION], min_length=2, max_length=8
    )
    initial: list[float] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> RegimeParams:
        k = len(self.transition)
        _transition(self.transition)
        if len(self.regime_mu) != k or len(self.regime_sigma) != k:
            raise ValueError(f"regime_mu and regime_sigma need one value per regime ({k})")
        if self.initial is not None and (
            len(self.initial) != k
            or min(self.initial) < 0
            or not math.isclose(sum(self.initial), 1.0, abs_tol=1e-9)
        ):
            raise ValueError(f"initial must be a probability vector of length {k}")
        return self


_PARAM_MODELS: dict[str, type[_Params]] = {
    "gbm": GbmParams,
    "regime": RegimeParams,
    "jump": JumpParams,
}


class SyntheticSpec(BaseModel):
    """A synthetic dataset request (``POST /api/v1/datasets {"source": "synthetic", ...}``).

    Attributes:
        source: Always ``"synthetic"`` (accepted so the request body validates as is).
        kind: Generator: ``gbm``, ``regime`` or ``jump``.
        symbols: 1 to 50 distinct symbols.
        bars: Bars per symbol (30 to 1,000,000).
        seed: Seed (0 to 2**32 - 1).
        start: First timestamp (UTC).
        frequency: ``1d`` (business days), ``1h`` or ``1min``.
        params: Model parameters of the chosen kind; unknown names are rejected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["synthetic"] = "synthetic"
    kind: SyntheticKind = "gbm"
    symbols: list[Symbol] = Field(default_factory=lambda: ["SYN"], min_length=1, max_length=50)
    bars: int = Field(default=2000, ge=30, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    start: datetime = Field(default=datetime(2000, 1, 3, tzinfo=UTC))
    frequency: Literal["1d", "1h", "1min"] = "1d"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        dupes = sorted({s for s in value if value.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate symbols: {', '.join(dupes)}")
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _parse_start(cls, value: Any) -> datetime:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"start is not an ISO 8601 date or date-time: {value!r}") from exc
        if ts is pd.NaT:
            raise ValueError("start must be a date")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.to_pydatetime()

    @model_validator(mode="after")
    def _check(self) -> SyntheticSpec:
        model = _PARAM_MODELS[self.kind]
        try:
            parsed = model.model_validate(self.params)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"invalid params for kind {self.kind!r}: {details}") from None
        object.__setattr__(self, "params", parsed.model_dump())
        n = len(self.symbols)
        correlation = self.params["correlation"]
        if n > 1 and not -1.0 / (n - 1) < correlation <= 1.0:
            raise ValueError(f"correlation must be in ({-1.0 / (n - 1):.4g}, 1] for {n} symbols")
        offset = pd.tseries.frequencies.to_offset(FREQUENCIES[self.frequency])
        try:
            last = pd.Timestamp(self.start) + (self.bars - 1) * offset
        except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
            last = None
        if last is None or last >= _MAX_TIMESTAMP:
            raise ValueError(
                f"{self.bars} bars of {self.frequency} from {self.start.date()} run past "
                "2262-04-10, the last representable timestamp; use fewer bars or another frequency"
            )
        return self

    def generate(self) -> pd.DataFrame:
        """Build the canonical bar frame this spec describes."""
        return generate(
            self.kind,
            self.symbols,
            self.bars,
            self.seed,
            start=self.start,
            freq=FREQUENCIES[self.frequency],
            **self.params,
        )
