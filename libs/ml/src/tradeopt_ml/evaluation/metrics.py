"""Performance metrics of an equity curve: vectorised numpy, JSON-safe output.

Conventions (apply to every function here)
------------------------------------------
* **Returns are simple returns** of the equity curve: ``r_t = E_t / E_{t-1} - 1`` for
  ``t = 1..T-1`` (``T`` equity values give ``T - 1`` returns). All results are **fractions, not
  percent**.
* **Annualisation** uses ``bars_per_year`` (252 for daily bars): the number of years is
  ``(T - 1) / bars_per_year``; volatility scales with ``sqrt(bars_per_year)``; mean returns with
  ``bars_per_year``.
* **Sharpe** uses a risk-free rate of 0 and the sample standard deviation (``ddof=1``):
  ``mean(r) / std(r, ddof=1) * sqrt(bars_per_year)``. **Sortino** divides the mean by the downside
  deviation ``sqrt(sum(min(r, 0)^2) / n)`` (target 0, all ``n`` returns in the denominator).
  A zero denominator (constant equity, no losing bar) gives **0.0** for Sharpe, Sortino and the
  information ratio ("no measurable edge"), so rankings and objectives always get a number.
* Ratios whose denominator is zero and where 0 would be misleading (``calmar`` without drawdown,
  ``profit_factor``/``payoff_ratio`` without losses, ``beta`` of a constant benchmark) are
  ``nan`` (or ``inf``) in the array helpers and ``None`` in :func:`compute_metrics` output.
* **Drawdown** is ``E_t / max_{s<=t} E_s - 1`` (a non-positive fraction); ``max_drawdown`` is its
  minimum. ``max_drawdown_duration`` is the longest run of consecutive bars below a previous
  peak (bars under water; a drawdown still open at the end counts up to the last bar).
* **Positions** are signed weights (fraction of equity per asset) *held at the end of bar t*,
  shape ``(T,)`` or ``(T, N)`` aligned with the equity values; the book starts flat (a position
  at bar 0 counts as a trade).
* **Skew** and **kurtosis** are the bias-corrected sample estimators (the ones pandas uses);
  kurtosis is *excess* kurtosis (0 for a normal distribution).
* **VaR/CVaR 95 %** are historical: ``var_95`` is the 5 % quantile of bar returns (linear
  interpolation), ``cvar_95`` the mean of the returns at or below it; both are returns (usually
  negative), per bar, not annualised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Metric names of DESIGN.md §3.1, always present in :func:`compute_metrics` output.
CORE_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "calmar",
    "hit_rate",
    "profit_factor",
    "turnover",
    "exposure",
    "n_trades",
)

_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# array helpers
# --------------------------------------------------------------------------------------------
def _as_equity(equity: np.ndarray) -> np.ndarray:
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1:
        raise ValueError(f"equity must be 1-D, got shape {eq.shape}")
    if eq.shape[0] < 2:
        raise ValueError("equity needs at least 2 values")
    if not np.all(np.isfinite(eq)):
        raise ValueError("equity contains NaN or inf")
    if eq[0] <= 0:
        raise ValueError("equity must start positive")
    return eq


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """Simple bar returns ``E_t / E_{t-1} - 1`` (length ``T - 1``)."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """Drawdown at every bar, ``E_t / running_max(E)_t - 1`` (non-positive fractions, length T)."""
    eq = np.asarray(equity, dtype=np.float64)
    return eq / np.maximum.accumulate(eq) - 1.0


def _longest_true_run(mask: np.ndarray) -> int:
    """Length of the longest run of consecutive ``True`` values."""
    if not mask.any():
        return 0
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return int((edges[1::2] - edges[::2]).max())


def max_drawdown_duration(equity: np.ndarray) -> int:
    """Longest number of consecutive bars spent below a previous equity peak."""
    return _longest_true_run(drawdown_series(equity) < -_EPS)


def _ratio_or_zero(num: float, den: float) -> float:
    return 0.0 if den <= _EPS else num / den


def sharpe_ratio(returns: np.ndarray, bars_per_year: float) -> float:
    """Annualised Sharpe ratio (risk-free 0, ``ddof=1``); 0.0 when the returns are constant."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    return _ratio_or_zero(float(r.mean()), float(r.std(ddof=1))) * math.sqrt(bars_per_year)


def sortino_ratio(returns: np.ndarray, bars_per_year: float) -> float:
    """Annualised Sortino ratio (target 0); 0.0 when there is no losing bar."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 0.0
    neg = np.minimum(r, 0.0)
    downside = math.sqrt(float(np.dot(neg, neg)) / r.size)
    return _ratio_or_zero(float(r.mean()), downside) * math.sqrt(bars_per_year)


def rolling_sharpe(equity: np.ndarray, window: int, bars_per_year: float) -> np.ndarray:
    """Annualised Sharpe over a trailing window of ``window`` returns, aligned with equity.

    Element ``t`` uses the returns ending at bar ``t`` (no look-ahead); the first ``window``
    values are ``nan``. Constant windows give 0.0 (see module conventions).
    """
    if window < 2:
        raise ValueError("window must be >= 2")
    r = simple_returns(equity)
    out = np.full(r.shape[0] + 1, np.nan)
    if r.shape[0] < window:
        return out
    centred = r - r.mean()  # improves the precision of the running sums
    c1 = np.concatenate(([0.0], np.cumsum(centred)))
    c2 = np.concatenate(([0.0], np.cumsum(centred * centred)))
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    mean_c = s1 / window
    var = np.maximum(s2 - window * mean_c * mean_c, 0.0) / (window - 1)
    std = np.sqrt(var)
    mean = mean_c + r.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(std > _EPS * 1e3, mean / std, 0.0) * math.sqrt(bars_per_year)
    out[window:] = sr
    return out


@dataclass(frozen=True)
class MonthlyReturns:
    """Compounded returns per calendar month.

    Attributes:
        years: ``(Y,)`` int calendar years covered, ascending.
        table: ``(Y, 12)`` month returns (fractions); ``nan`` where the month has no bar.
        yearly: ``(Y,)`` compounded return of each (possibly partial) year.
    """

    years: np.ndarray
    table: np.ndarray
    yearly: np.ndarray

    def to_dict(self) -> dict[str, list]:
        """JSON-safe form: ``{"years": [...], "table": [[...12 or None]], "yearly": [...]}``."""
        return {
            "years": [int(y) for y in self.years],
            "table": [[_json_float(v) for v in row] for row in self.table],
            "yearly": [_json_float(v) for v in self.yearly],
        }


def monthly_returns(equity: np.ndarray, timestamps: np.ndarray) -> MonthlyReturns:
    """Month-by-month compounded returns of an equity curve.

    The return of a month is its last equity over the previous month's last equity (the first
    month starts from the first equity value). ``timestamps`` are ``datetime64`` aligned with
    ``equity``.
    """
    eq = _as_equity(equity)
    ts = np.asarray(timestamps).astype("datetime64[M]")
    if ts.shape != eq.shape:
        raise ValueError("timestamps and equity must have the same length")
    month_idx = ts.astype(np.int64)  # months since 1970-01
    last = np.flatnonzero(np.append(month_idx[1:] != month_idx[:-1], True))
    month_end = eq[last]
    prev = np.concatenate(([eq[0]], month_end[:-1]))
    rets = month_end / prev - 1.0
    months = month_idx[last]
    years_all = months // 12 + 1970
    years = np.unique(years_all)
    table = np.full((years.shape[0], 12), np.nan)
    table[np.searchsorted(years, years_all), months % 12] = rets
    yearly = np.nanprod(1.0 + table, axis=1) - 1.0
    return MonthlyReturns(years=years.astype(np.int64), table=table, yearly=yearly)


# --------------------------------------------------------------------------------------------
# positions and trades
# --------------------------------------------------------------------------------------------
def _as_positions(positions: np.ndarray, n_bars: int) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[:, None]
    if pos.ndim != 2 or pos.shape[0] != n_bars:
        raise ValueError(f"positions must be (T,) or (T, N) with T={n_bars}, got {pos.shape}")
    return pos


def position_changes(positions: np.ndarray) -> np.ndarray:
    """``|w_t - w_{t-1}|`` per bar and asset, from an initially flat book (shape ``(T, N)``)."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[:, None]
    return np.abs(np.diff(pos, axis=0, prepend=0.0))


def order_mask(units: np.ndarray) -> np.ndarray:
    """``(T, N)`` mask of the (bar, asset) pairs whose held units changed (an order), from an
    initially flat book: what ``n_orders`` counts everywhere.
    """
    return position_changes(units) > _EPS


def holding_periods(positions: np.ndarray) -> np.ndarray:
    """Lengths (bars) of every run of a constant non-zero position, over all assets."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = pos[:, None]
    lengths = []
    for j in range(pos.shape[1]):  # loops over assets only (N is small), not over bars
        col = pos[:, j]
        start = np.flatnonzero(np.diff(col, prepend=np.nan) != 0)  # first bar of each run
        bounds = np.append(start, col.shape[0])
        run_len = np.diff(bounds)
        held = np.abs(col[start]) > _EPS
        lengths.append(run_len[held])
    return np.concatenate(lengths) if lengths else np.empty(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# the metrics dict
# --------------------------------------------------------------------------------------------
def _json_float(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _sample_skew_kurt(r: np.ndarray) -> tuple[float, float]:
    """Bias-corrected sample skewness and excess kurtosis (pandas' estimators)."""
    n = r.size
    if n < 4:
        return math.nan, math.nan
    d = r - r.mean()
    d2 = d * d
    m2 = float(d2.mean())
    if m2 <= _EPS * _EPS:
        return 0.0, 0.0
    m3 = float(np.dot(d2, d)) / n
    m4 = float(np.dot(d2, d2)) / n
    g1 = m3 / m2**1.5
    g2 = m4 / (m2 * m2) - 3.0
    skew = math.sqrt(n * (n - 1)) / (n - 2) * g1
    kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0)
    return skew, kurt


def compute_metrics(
    equity: np.ndarray,
    *,
    bars_per_year: float,
    positions: np.ndarray | None = None,
    trades: np.ndarray | None = None,
    benchmark: np.ndarray | None = None,
    costs: np.ndarray | None = None,
    units: np.ndarray | None = None,
) -> dict[str, float | int | None]:
    """Every metric of an equity curve, as a JSON-safe dict (non-finite values become ``None``).

    Args:
        equity: ``(T,)`` portfolio values (net of costs), ``T >= 2``, starting positive.
        bars_per_year: bars per year for annualisation (252 for daily bars).
        positions: optional ``(T,)`` or ``(T, N)`` signed weights held at the end of each bar.
            Enables ``turnover`` (annualised traded notional per unit of equity,
            ``sum|Δw| / T * bars_per_year``: one full entry a year = 1.0), ``exposure``
            (fraction of bars with a non-zero position), ``n_orders`` (number of (bar, asset)
            position changes, i.e. orders; counted on ``units`` when given, since weights also
            drift with prices between orders) and ``avg_holding_period`` (mean bars of a
            constant non-zero position).
            Without positions, ``exposure`` falls back to the fraction of bars with a non-zero
            return and the other three are ``None``.
        units: optional ``(T,)``/``(T, N)`` units held, for ``n_orders``.
        trades: optional ``(K,)`` returns of closed round-trip trades. When given,
            ``n_trades = K`` (otherwise ``None``: one meaning everywhere), and
            ``trade_hit_rate`` / ``trade_payoff_ratio`` are added.
        benchmark: optional ``(T,)`` benchmark equity on the same bars; adds ``alpha``
            (annualised, ``(mean(r) - beta * mean(b)) * bars_per_year``), ``beta``
            (``cov(r, b) / var(b)``), ``information_ratio`` (annualised, ``ddof=1``) and
            ``benchmark_total_return``.
        costs: optional ``(T,)`` trading costs paid at each bar, in equity units. The gross
            curve adds them back bar by bar (``r_gross_t = (E_t + c_t) / E_{t-1} - 1``);
            ``cost_drag`` is gross minus net total return and ``cost_drag_annual`` gross minus
            net CAGR (both >= 0 for non-negative costs).

    Returns:
        ``{name: value}`` with at least :data:`CORE_METRICS` plus ``var_95, cvar_95, skew,
        kurtosis, payoff_ratio, avg_holding_period, n_bars``. Counts are ints.
    """
    eq = _as_equity(equity)
    t_bars = eq.shape[0]
    r = eq[1:] / eq[:-1] - 1.0
    n = r.shape[0]
    years = n / bars_per_year
    growth = eq[-1] / eq[0]
    total_return = growth - 1.0
    cagr = growth ** (1.0 / years) - 1.0 if growth > 0 else -1.0

    mean = float(r.mean())
    std = float(r.std(ddof=1)) if n > 1 else 0.0
    ann = math.sqrt(bars_per_year)
    dd = eq / np.maximum.accumulate(eq) - 1.0
    max_dd = float(dd.min())

    neg = np.minimum(r, 0.0)
    losses = -float(neg.sum())
    gains = float(r.sum()) + losses
    n_pos = int(np.count_nonzero(r > 0))
    n_neg = int(np.count_nonzero(neg))
    n_nonzero = n_pos + n_neg
    avg_win = gains / n_pos if n_pos else math.nan
    avg_loss = losses / n_neg if n_neg else math.nan
    downside = math.sqrt(float(np.dot(neg, neg)) / n)
    var_95 = float(np.quantile(r, 0.05))
    cvar_95 = float(r[r <= var_95].mean())
    skew, kurt = _sample_skew_kurt(r)

    out: dict[str, float] = {
        "total_return": total_return,
        "cagr": cagr,
        "volatility": std * ann,
        "sharpe": _ratio_or_zero(mean, std) * ann,
        "sortino": _ratio_or_zero(mean, downside) * ann,
        "max_drawdown": max_dd,
        "max_drawdown_duration": float(_longest_true_run(dd < -_EPS)),
        "calmar": cagr / -max_dd if max_dd < -_EPS else math.nan,
        "hit_rate": n_pos / n_nonzero if n_nonzero else 0.0,
        "profit_factor": gains / losses if losses > 0 else (math.inf if gains > 0 else math.nan),
        "turnover": math.nan,
        "exposure": n_nonzero / n,
        "n_trades": math.nan,
        "n_orders": math.nan,
        "var_95": var_95,
        "cvar_95": cvar_95,
        "skew": skew,
        "kurtosis": kurt,
        "payoff_ratio": avg_win / avg_loss if n_neg and n_pos else math.nan,
        "avg_holding_period": math.nan,
        "n_bars": float(t_bars),
    }

    if positions is not None:
        pos = _as_positions(positions, t_bars)
        changes = position_changes(pos)
        out["turnover"] = float(changes.sum()) / t_bars * bars_per_year
        out["exposure"] = float((np.abs(pos) > _EPS).any(axis=1).mean())
        held = _as_positions(units, t_bars) if units is not None else pos
        out["n_orders"] = float(order_mask(held).sum())
        periods = holding_periods(pos)
        out["avg_holding_period"] = float(periods.mean()) if periods.size else 0.0

    if trades is not None:
        tr = np.asarray(trades, dtype=np.float64).ravel()
        out["n_trades"] = float(tr.size)
        wins, losses_t = tr[tr > 0], tr[tr < 0]
        decided = wins.size + losses_t.size
        out["trade_hit_rate"] = wins.size / decided if decided else math.nan
        out["trade_payoff_ratio"] = (
            float(wins.mean() / -losses_t.mean()) if wins.size and losses_t.size else math.nan
        )

    if benchmark is not None:
        b_eq = _as_equity(benchmark)
        if b_eq.shape != eq.shape:
            raise ValueError("benchmark must have the same length as equity")
        b = b_eq[1:] / b_eq[:-1] - 1.0
        b_mean = float(b.mean())
        b_var = float(b.var(ddof=1)) if n > 1 else 0.0
        cov = float(np.dot(r - mean, b - b_mean)) / (n - 1) if n > 1 else 0.0
        beta = cov / b_var if b_var > _EPS * _EPS else math.nan
        active = r - b
        out["beta"] = beta
        out["alpha"] = (mean - beta * b_mean) * bars_per_year if math.isfinite(beta) else math.nan
        out["information_ratio"] = (
            _ratio_or_zero(float(active.mean()), float(active.std(ddof=1)) if n > 1 else 0.0) * ann
        )
        out["benchmark_total_return"] = b_eq[-1] / b_eq[0] - 1.0

    if costs is not None:
        c = np.asarray(costs, dtype=np.float64).ravel()
        if c.shape[0] != t_bars:
            raise ValueError("costs must have the same length as equity")
        gross_growth = float(np.prod((eq[1:] + c[1:]) / eq[:-1]))
        gross_cagr = gross_growth ** (1.0 / years) - 1.0 if gross_growth > 0 else -1.0
        out["cost_drag"] = (gross_growth - 1.0) - total_return
        out["cost_drag_annual"] = gross_cagr - cagr
        out["total_costs"] = float(c.sum()) / eq[0]

    result: dict[str, float | int | None] = {k: _json_float(v) for k, v in out.items()}
    for key in ("max_drawdown_duration", "n_trades", "n_orders", "n_bars"):
        if result.get(key) is not None:
            result[key] = int(result[key])  # type: ignore[arg-type]
    return result


def metrics_table(
    metrics: Mapping[str, Mapping[str, float | int | None]],
) -> tuple[list[str], list[str], list[list[float | int | None]]]:
    """Side-by-side layout of several metric dicts: ``(row_names, column_names, cells)``.

    Rows follow :data:`CORE_METRICS` first, then any other metric in first-seen order.
    """
    columns = list(metrics)
    names = list(CORE_METRICS)
    for m in metrics.values():
        names.extend(k for k in m if k not in names)
    cells = [[metrics[c].get(name) for c in columns] for name in names]
    return names, columns, cells
