"""Per-symbol dataset summary: range, returns, risk, volume and gaps vs an exchange calendar.

Gap methods (``gaps["method"]``):

* ``"calendar"`` for daily bars that look like exchange data (median spacing 0.9-5 days, all
  bars at the same time of day, fewer than 1 % on weekends): bar dates are compared with the
  sessions of an ``exchange_calendars`` calendar (default ``XNYS``, the NYSE) between the first
  and the last bar. Reports missing sessions and bars on non-session days. The calendar is
  computed from holiday rules inside the package; nothing is downloaded.
* ``"spacing"`` otherwise (intraday, weekly, crypto/FX trading on weekends, or no calendar):
  intervals longer than 1.5 x the median spacing are gaps. For intraday equity data this
  includes nights and weekends, by construction.

Figures: ``total_return`` from the first to the last ``adj_close``; ``volatility`` = standard
deviation (ddof 1) of log returns of ``adj_close`` x sqrt(bars per year) (252 for daily bars);
``max_drawdown`` a negative fraction with its peak, trough and recovery (``None`` when not
recovered) dates; ``mean_volume`` the mean of ``volume``.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data.panel import Panel, bars_per_year_for_step
from tradeopt_ml.instants import iso_utc

_DAY_NS = 86_400 * 10**9


@lru_cache(maxsize=16)
def _calendar(name: str, first_year: int, last_year: int) -> Any:
    """An exchange calendar covering whole years (cached; computed from rules, no download)."""
    import exchange_calendars as xcals  # local import: only summaries need it

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads tz-aware Series.values, deprecated in pandas 3.1.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(
            name,
            start=f"{max(first_year, 1885)}-01-01",
            end=f"{min(last_year, 2200)}-12-31",
        )


def _iso(tick: int | np.integer) -> str:
    return iso_utc(int(tick))


def _drawdown(prices: np.ndarray, ticks: np.ndarray) -> dict[str, object]:
    ok = np.isfinite(prices)
    if ok.sum() < 1:
        return {"max_drawdown": None, "peak": None, "trough": None, "recovery": None}
    p, t = prices[ok], ticks[ok]
    peaks = np.maximum.accumulate(p)
    dd = p / peaks - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] >= 0:
        return {"max_drawdown": 0.0, "peak": None, "trough": None, "recovery": None}
    peak = int(np.argmax(p[: trough + 1]))
    after = np.flatnonzero(p[trough:] >= p[peak])
    recovery = _iso(t[trough + after[0]]) if after.size else None
    return {
        "max_drawdown": float(dd[trough]),
        "peak": _iso(t[peak]),
        "trough": _iso(t[trough]),
        "recovery": recovery,
    }


def _calendar_gaps(ticks: np.ndarray, calendar: str, max_listed: int) -> dict[str, object]:
    days = np.unique(ticks // _DAY_NS) * _DAY_NS
    bar_days = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    cal = _calendar(calendar, bar_days[0].year, bar_days[-1].year)
    lo = max(bar_days[0], pd.Timestamp(cal.first_session).tz_localize(None))
    hi = min(bar_days[-1], pd.Timestamp(cal.last_session).tz_localize(None))
    sessions = cal.sessions_in_range(lo, hi).tz_localize(None).as_unit("ns")
    in_range = bar_days[(bar_days >= lo) & (bar_days <= hi)]
    missing = sessions.difference(in_range)
    extra = in_range.difference(sessions)
    return {
        "method": "calendar",
        "calendar": calendar,
        "sessions": len(sessions),
        "missing_sessions": len(missing),
        "missing": [d.date().isoformat() for d in missing[:max_listed]],
        "non_session_bars": len(extra),
        "non_session": [d.date().isoformat() for d in extra[:max_listed]],
    }


def _spacing_gaps(ticks: np.ndarray, max_listed: int) -> dict[str, object]:
    if ticks.size < 2:
        return {"method": "spacing", "median_spacing_seconds": None, "count": 0, "gaps": []}
    step = np.diff(ticks)
    median = float(np.median(step))
    big = np.flatnonzero(step > 1.5 * median)
    return {
        "method": "spacing",
        "median_spacing_seconds": median / 1e9,
        "threshold_seconds": 1.5 * median / 1e9,
        "count": int(big.size),
        "gaps": [
            {"start": _iso(ticks[i]), "end": _iso(ticks[i + 1]), "seconds": step[i] / 1e9}
            for i in big[:max_listed]
        ],
    }


def _is_exchange_daily(ticks: np.ndarray) -> bool:
    if ticks.size < 2:
        return False
    days = float(np.median(np.diff(ticks))) / _DAY_NS
    if not 0.9 <= days < 5:
        return False
    if np.unique(ticks % _DAY_NS).size != 1:
        return False
    weekday = (ticks // _DAY_NS + 3) % 7  # 1970-01-01 was a Thursday -> Monday = 0
    return float(np.mean(weekday >= 5)) < 0.01


def summarize_symbol(
    group: pd.DataFrame, *, calendar: str | None = "XNYS", max_listed: int = 20
) -> dict[str, object]:
    """Summary of one symbol's canonical bars (sorted by timestamp)."""
    ticks = pd.DatetimeIndex(pd.to_datetime(group["timestamp"], utc=True)).as_unit("ns").asi8
    adj = group["adj_close"].to_numpy(dtype="float64")
    volume = group["volume"].to_numpy(dtype="float64")
    finite = adj[np.isfinite(adj)]
    step = float(np.median(np.diff(ticks))) / 1e9 if ticks.size > 1 else 86_400.0
    per_year = bars_per_year_for_step(step)
    logret = np.diff(np.log(adj))
    logret = logret[np.isfinite(logret)]
    if calendar and _is_exchange_daily(ticks):
        gaps = _calendar_gaps(ticks, calendar, max_listed)
    else:
        gaps = _spacing_gaps(ticks, max_listed)
    return {
        "first": _iso(ticks[0]) if ticks.size else None,
        "last": _iso(ticks[-1]) if ticks.size else None,
        "rows": int(ticks.size),
        "total_return": float(finite[-1] / finite[0] - 1.0) if finite.size else None,
        "volatility": float(np.std(logret, ddof=1) * np.sqrt(per_year))
        if logret.size > 1
        else None,
        "bars_per_year": per_year,
        **_drawdown(adj, ticks),
        "mean_volume": float(np.nanmean(volume)) if np.isfinite(volume).any() else None,
        "gaps": gaps,
    }


def summarize(
    data: pd.DataFrame | Panel, *, calendar: str | None = "XNYS", max_listed: int = 20
) -> dict[str, dict[str, object]]:
    """Summaries keyed by symbol for a canonical bar frame or a :class:`Panel`.

    Args:
        data: canonical bars (:mod:`tradeopt_ml.data.bars`) or a Panel.
        calendar: an ``exchange_calendars`` name used for daily bars; ``None`` always uses the
            spacing method.
        max_listed: cap on listed missing sessions / gaps per symbol.
    """
    frame = data.to_bars() if isinstance(data, Panel) else data
    out: dict[str, dict[str, object]] = {}
    for symbol, group in frame.groupby("symbol", sort=True):
        group = group.sort_values("timestamp", kind="stable")
        out[str(symbol)] = summarize_symbol(group, calendar=calendar, max_listed=max_listed)
    return out
