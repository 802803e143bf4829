"""The indicator catalog: definitions, parameters, output columns, warm-up and vectorised kernels.

Every indicator reads the whole ``(T, N)`` arrays of a :class:`~tradeopt_ml.data.Panel` at once
and returns one ``(T, N)`` float64 array per output column. Row ``t`` depends only on bars
``<= t``; rows inside the warm-up stay NaN.

Price conventions (DESIGN §5): indicators on prices use ``adj_close``. The ATR needs the bar
range, which only exists unadjusted, so high and low are put on the adjusted scale with the
bar's own factor ``adj_close / close`` (``high_adj = high * adj_close / close``) and the true
range is taken on ``(high_adj, low_adj, adj_close)``; ATR is then divided by ``adj_close``. This
keeps a split or dividend from showing up as a fake gap between ``close[t-1]`` and today's range,
and makes the normalised ATR identical to ``ATR(raw) / close`` on days without adjustments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tradeopt_ml.data import Panel
from tradeopt_ml.features import kernels
from tradeopt_ml.features.params import Param, ParamValue, fmt

Params = Mapping[str, ParamValue]
Arrays = list[np.ndarray]

#: Standard deviations below ``_TINY * |level|`` count as zero (flat windows).
_TINY = 1e-12


class Context:
    """Inputs of one :func:`~tradeopt_ml.features.compute_features` call, derived arrays cached.

    Args:
        panel: The aligned bars.
    """

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    @cached_property
    def price(self) -> np.ndarray:
        """Adjusted close, ``(T, N)``."""
        return np.asarray(self.panel.adj_close, dtype=np.float64)

    @cached_property
    def log_return_1(self) -> np.ndarray:
        """One-bar log return of the adjusted close (row 0 NaN)."""
        return _log_ratio(self.price, 1)

    @cached_property
    def true_range(self) -> np.ndarray:
        """True range on the adjusted scale (row 0 NaN: it needs the previous close)."""
        factor = self.price / np.asarray(self.panel.close, dtype=np.float64)
        high = np.asarray(self.panel.high, dtype=np.float64) * factor
        low = np.asarray(self.panel.low, dtype=np.float64) * factor
        prev = kernels.lag(self.price, 1)
        return np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))

    def ema(self, span: int) -> np.ndarray:
        """SMA-seeded EMA of the adjusted close, cached per span."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_ema", {})
        if span not in cache:
            cache[span] = kernels.ema(self.price, span)
        return cache[span]

    def sma(self, window: int) -> np.ndarray:
        """Simple moving average of the adjusted close, cached per window."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_sma", {})
        if window not in cache:
            cache[window] = kernels.rolling_mean(self.price, window)
        return cache[window]


def _log_ratio(x: np.ndarray, h: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if h < x.shape[0]:
        out[h:] = np.log(x[h:] / x[:-h])
    return out


def _ratio(x: np.ndarray, h: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if h < x.shape[0]:
        out[h:] = x[h:] / x[:-h] - 1.0
    return out


def _safe_divide(num: np.ndarray, den: np.ndarray, scale: np.ndarray, fill: float) -> np.ndarray:
    """``num / den``; ``fill`` where ``|den| <= _TINY * |scale|`` (a flat window). NaN kept."""
    flat = np.abs(den) <= _TINY * np.abs(scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / np.where(flat, 1.0, den)
    out[flat] = fill
    return out


# --- kernels -------------------------------------------------------------------------------


def _return(ctx: Context, p: Params) -> Arrays:
    return [_ratio(ctx.price, int(p["horizon"]))]


def _log_return(ctx: Context, p: Params) -> Arrays:
    h = int(p["horizon"])
    return [ctx.log_return_1 if h == 1 else _log_ratio(ctx.price, h)]


def _sma_ratio(ctx: Context, p: Params) -> Arrays:
    return [ctx.price / ctx.sma(int(p["window"])) - 1.0]


def _ema_ratio(ctx: Context, p: Params) -> Arrays:
    return [ctx.price / ctx.ema(int(p["span"])) - 1.0]


def _rsi(ctx: Context, p: Params) -> Arrays:
    n = int(p["window"])
    diff = ctx.price - kernels.lag(ctx.price, 1)
    gain = kernels.wilder(np.maximum(diff, 0.0), n, start=1)
    loss = kernels.wilder(np.maximum(-diff, 0.0), n, start=1)
    total = gain + loss
    return [_safe_divide(100.0 * gain, total, ctx.price, 50.0)]


def _macd(ctx: Context, p: Params) -> Arrays:
    fast, slow, signal = int(p["fast"]), int(p["slow"]), int(p["signal"])
    line = (ctx.ema(fast) - ctx.ema(slow)) / ctx.price
    sig = kernels.ema(line, signal, start=slow - 1)
    return [line, sig, line - sig]


def _bollinger(ctx: Context, p: Params) -> Arrays:
    w, k = int(p["window"]), float(p["k"])
    mid = ctx.sma(w)
    sd = kernels.rolling_std(ctx.price, w, ddof=0)
    return [_safe_divide(ctx.price - mid + k * sd, 2.0 * k * sd, mid, 0.5)]


def _atr(ctx: Context, p: Params) -> Arrays:
    return [kernels.wilder(ctx.true_range, int(p["window"]), start=1) / ctx.price]


def _volatility(ctx: Context, p: Params) -> Arrays:
    vol = kernels.rolling_std(ctx.log_return_1, int(p["window"]), ddof=1)
    if p["annualize"]:
        vol = vol * np.sqrt(float(p["bars_per_year"]))
    return [vol]


def _volume_zscore(ctx: Context, p: Params) -> Arrays:
    w = int(p["window"])
    vol = np.asarray(ctx.panel.volume, dtype=np.float64)
    mean = kernels.rolling_mean(vol, w)
    sd = kernels.rolling_std(vol, w, ddof=0)
    return [_safe_divide(vol - mean, sd, mean, 0.0)]


def _drawdown(ctx: Context, p: Params) -> Arrays:
    return [ctx.price / kernels.rolling_max(ctx.price, int(p["window"])) - 1.0]


def _calendar(ctx: Context, p: Params) -> Arrays:
    stamps = np.asarray(ctx.panel.timestamps).astype("datetime64[ns]")
    days = stamps.astype("datetime64[D]").astype(np.int64)
    dow = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month = stamps.astype("datetime64[M]").astype(np.int64) % 12  # January = 0
    shape = (stamps.shape[0], ctx.panel.n_assets)
    cols = []
    for value, period in ((dow, 7.0), (month, 12.0)):
        angle = 2.0 * np.pi * value.astype(np.float64) / period
        cols.append(np.broadcast_to(np.sin(angle)[:, None], shape))
        cols.append(np.broadcast_to(np.cos(angle)[:, None], shape))
    return cols


# --- definitions ---------------------------------------------------------------------------


def _sum_of_terms(formula: str, params: Params) -> int:
    """The value of ``"slow + signal - 2"``: integer params and constants, ``+`` and ``-``."""
    if not re.fullmatch(r"\w+( [+-] \w+)*", formula):
        raise ValueError(f"warm-up formula {formula!r} is not a sum of params and integers")
    tokens = formula.split()
    total = 0
    for sign, term in zip(["+", *tokens[1::2]], tokens[::2], strict=True):
        value = int(term) if term.isdigit() else int(params[term])
        total += value if sign == "+" else -value
    return total


@dataclass(frozen=True)
class Indicator:
    """A catalog entry.

    Args:
        name: Feature name used in a spec.
        description: What it computes, including conventions.
        params: Accepted parameters.
        column_templates: Output column names with ``{param}`` placeholders; the catalog shows
            them and, unless ``columns_fn`` is given, they are filled in to name the columns.
        warmup_formulas: Per output column, bars before the first valid value: a sum of integer
            params and constants (``"slow + signal - 2"``), shown in the catalog and evaluated
            for resolved params.
        compute: The vectorised kernel, one ``(T, N)`` array per output column.
        columns_fn: Output column names for resolved params, only where the templates cannot
            say it (a column whose name depends on a flag).
        price_based: Whether the values depend on prices (volume z-score and calendar do not).
        check: Extra cross-parameter validation; raises ``ValueError``.
    """

    name: str
    description: str
    params: tuple[Param, ...]
    column_templates: tuple[str, ...]
    warmup_formulas: tuple[str, ...]
    compute: Callable[[Context, Params], Arrays]
    columns_fn: Callable[[Params], list[str]] | None = None
    price_based: bool = True
    check: Callable[[Params], None] | None = None

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, ParamValue]:
        """Validate ``params`` and fill defaults, in declaration order. Raises ``ValueError``."""
        given = dict(params or {})
        known = {prm.name for prm in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            accepted = ", ".join(sorted(known)) or "none"
            raise ValueError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; accepted: {accepted}"
            )
        resolved = {
            prm.name: prm.coerce(given[prm.name]) if prm.name in given else prm.default
            for prm in self.params
        }
        if self.check is not None:
            self.check(resolved)
        return resolved

    def columns(self, params: Params) -> list[str]:
        """Output column names for resolved ``params``."""
        if self.columns_fn is not None:
            return self.columns_fn(params)
        values = {name: fmt(value) for name, value in params.items()}
        return [template.format(**values) for template in self.column_templates]

    def __post_init__(self) -> None:
        defaults = {prm.name: prm.default for prm in self.params}
        self.warmups(defaults)  # every formula is a sum of this indicator's params and integers

    def warmups(self, params: Params) -> list[int]:
        """Warm-up bars per output column for resolved ``params`` (its ``warmup_formulas``)."""
        return [_sum_of_terms(formula, params) for formula in self.warmup_formulas]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable catalog entry."""
        defaults = {prm.name: prm.default for prm in self.params}
        return {
            "name": self.name,
            "description": self.description,
            "params": [prm.to_dict() for prm in self.params],
            "columns": list(self.column_templates),
            "warmup": list(self.warmup_formulas),
            "price_based": self.price_based,
            "default_columns": self.columns(defaults),
            "default_warmup": max(self.warmups(defaults)),
        }


def _window(default: int, lo: int = 2, hi: int = 1000, name: str = "window") -> Param:
    return Param(name, int, default, "number of bars in the trailing window", lo, hi)


def _macd_check(p: Params) -> None:
    if int(p["fast"]) >= int(p["slow"]):
        raise ValueError(f"macd: fast ({p['fast']}) must be smaller than slow ({p['slow']})")


_HORIZON = Param("horizon", int, 1, "bars between the two prices", 1, 1000)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        name="return",
        description="Simple return of the adjusted close over `horizon` bars: "
        "adj_close[t] / adj_close[t - horizon] - 1.",
        params=(_HORIZON,),
        column_templates=("return_{horizon}",),
        warmup_formulas=("horizon",),
        compute=_return,
    ),
    Indicator(
        name="log_return",
        description="Log return of the adjusted close over `horizon` bars: "
        "log(adj_close[t] / adj_close[t - horizon]).",
        params=(_HORIZON,),
        column_templates=("log_return_{horizon}",),
        warmup_formulas=("horizon",),
        compute=_log_return,
    ),
    Indicator(
        name="sma_ratio",
        description="Adjusted close over its simple moving average, minus one: "
        "adj_close / SMA(window) - 1.",
        params=(_window(20),),
        column_templates=("sma_ratio_{window}",),
        warmup_formulas=("window - 1",),
        compute=_sma_ratio,
    ),
    Indicator(
        name="ema_ratio",
        description="Adjusted close over its exponential moving average, minus one: "
        "adj_close / EMA(span) - 1. EMA alpha = 2 / (span + 1), seeded with the SMA of the "
        "first `span` bars (TA-Lib convention).",
        params=(Param("span", int, 20, "EMA span (alpha = 2 / (span + 1))", 2, 1000),),
        column_templates=("ema_ratio_{span}",),
        warmup_formulas=("span - 1",),
        compute=_ema_ratio,
    ),
    Indicator(
        name="rsi",
        description="Relative strength index (0..100) of the adjusted close with Wilder "
        "smoothing (alpha = 1 / window, seeded with the mean of the first `window` changes): "
        "100 * avg_gain / (avg_gain + avg_loss); 50 when the price did not move.",
        params=(_window(14, hi=500),),
        column_templates=("rsi_{window}",),
        warmup_formulas=("window",),
        compute=_rsi,
    ),
    Indicator(
        name="macd",
        description="MACD of the adjusted close, divided by the adjusted close so it is "
        "scale-free: line = (EMA(fast) - EMA(slow)) / adj_close, signal = EMA(line, signal), "
        "histogram = line - signal. EMAs are SMA-seeded.",
        params=(
            Param("fast", int, 12, "fast EMA span", 2, 500),
            Param("slow", int, 26, "slow EMA span (greater than fast)", 3, 1000),
            Param("signal", int, 9, "signal EMA span", 2, 500),
        ),
        column_templates=(
            "macd_{fast}_{slow}_{signal}",
            "macd_signal_{fast}_{slow}_{signal}",
            "macd_hist_{fast}_{slow}_{signal}",
        ),
        warmup_formulas=("slow - 1", "slow + signal - 2", "slow + signal - 2"),
        compute=_macd,
        check=_macd_check,
    ),
    Indicator(
        name="bollinger_pctb",
        description="Bollinger %B of the adjusted close: (adj_close - lower) / (upper - lower) "
        "with bands SMA(window) +/- k * std(window) (population std); 0.5 on a flat window.",
        params=(
            _window(20),
            Param("k", float, 2.0, "band width in standard deviations", 0.1, 10.0),
        ),
        column_templates=("bb_pctb_{window}_{k}",),
        warmup_formulas=("window - 1",),
        compute=_bollinger,
    ),
    Indicator(
        name="atr",
        description="Average true range (Wilder smoothing, SMA-seeded) divided by the adjusted "
        "close. High and low are scaled to the adjusted price by adj_close / close of the same "
        "bar, so splits and dividends do not create fake gaps.",
        params=(_window(14, lo=1, hi=500),),
        column_templates=("atr_{window}",),
        warmup_formulas=("window",),
        compute=_atr,
    ),
    Indicator(
        name="volatility",
        description="Realised volatility: sample standard deviation (ddof=1) of the one-bar log "
        "returns over `window` bars; times sqrt(bars_per_year) when `annualize` is true.",
        params=(
            _window(20),
            Param("annualize", bool, False, "multiply by sqrt(bars_per_year)"),
            Param("bars_per_year", float, 252.0, "annualisation factor", 1.0, 1e7),
        ),
        column_templates=("volatility_{window}", "volatility_{window}_ann (annualize=true)"),
        warmup_formulas=("window",),
        columns_fn=lambda p: [f"volatility_{p['window']}{'_ann' if p['annualize'] else ''}"],
        compute=_volatility,
    ),
    Indicator(
        name="volume_zscore",
        description="Z-score of the volume against its trailing window (population std, the "
        "current bar included); 0 when the window's volume is constant.",
        params=(_window(20),),
        column_templates=("volume_z_{window}",),
        warmup_formulas=("window - 1",),
        compute=_volume_zscore,
        price_based=False,
    ),
    Indicator(
        name="drawdown",
        description="Drawdown from the trailing high: adj_close / max(adj_close over window) - 1 "
        "(zero or negative).",
        params=(_window(60, hi=5000),),
        column_templates=("drawdown_{window}",),
        warmup_formulas=("window - 1",),
        compute=_drawdown,
    ),
    Indicator(
        name="calendar",
        description="Day of week (Monday = 0, period 7) and month (January = 0, period 12) of "
        "the bar timestamp (UTC) as sin/cos pairs; the same for every symbol.",
        params=(),
        column_templates=("dow_sin", "dow_cos", "month_sin", "month_cos"),
        warmup_formulas=("0", "0", "0", "0"),
        compute=_calendar,
        price_based=False,
    ),
)

REGISTRY: dict[str, Indicator] = {ind.name: ind for ind in INDICATORS}


def get_indicator(name: str) -> Indicator:
    """The catalog entry called ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ValueError(f"unknown feature {name!r}; known features: {known}") from None


def catalog() -> list[dict[str, Any]]:
    """All indicators as JSON-serialisable dicts (served by ``GET /api/v1/features``)."""
    return [ind.to_dict() for ind in INDICATORS]
