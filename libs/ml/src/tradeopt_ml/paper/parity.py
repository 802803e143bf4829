"""Backtest ↔ paper parity: a replay session's recorded bars against the evaluation backtest of
the same model on the same bars and costs, bar by bar (equity, position units, costs, fills).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tradeopt_ml.evaluation.backtest import BacktestResult

#: Largest absolute difference counted as equal.
TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Divergence:
    """One bar where the session and the backtest differ (values of both sides)."""

    seq: int
    t: str
    fields: dict[str, dict[str, Any]]


@dataclass(slots=True)
class ParityReport:
    """The comparison; ``divergences`` is empty when every bar agrees to :data:`TOLERANCE`."""

    bars_compared: int
    session_bars: int
    backtest_bars: int
    tolerance: float
    max_abs_equity_diff: float
    final_equity_session: float | None
    final_equity_backtest: float | None
    fills_session: int
    fills_backtest: int
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing diverges and both sides cover the same bars."""
        return not self.divergences and self.session_bars == self.backtest_bars

    def to_dict(self, max_items: int = 500) -> dict[str, Any]:
        """JSON form; the first ``max_items`` divergences are itemised."""
        out = asdict(self)
        out["n_divergences"] = len(self.divergences)
        out["divergences"] = out["divergences"][:max_items]
        out["ok"] = self.ok
        return out


def parity_report(
    rows: list[dict[str, Any]], backtest: BacktestResult, *, tolerance: float = TOLERANCE
) -> ParityReport:
    """Compare session bars with a backtest.

    Args:
        rows: the session's bars in order: ``{"seq", "t", "value", "units", "cost",
            "traded"}`` (``t`` ISO 8601; ``seq`` k is the k-th decision, whose result is the
            backtest's row ``k + 1``).
        backtest: the evaluation backtest over the same range and costs.
        tolerance: absolute tolerance per compared number.
    """
    n_bt = backtest.n_steps
    n = min(len(rows), n_bt)
    bt_eq, bt_units, bt_costs = backtest.equity, backtest.units, backtest.costs
    bt_traded = np.diff(bt_units, axis=0)
    stamps = np.datetime_as_string(backtest.timestamps, unit="s", timezone="UTC")
    divergences: list[Divergence] = []
    max_diff = 0.0
    for k in range(n):
        row = rows[k]
        diffs: dict[str, dict[str, Any]] = {}
        eq = float(bt_eq[k + 1])
        d = abs(float(row["value"]) - eq)
        max_diff = max(max_diff, d)
        if not d <= tolerance:
            diffs["equity"] = {"session": row["value"], "backtest": eq}
        units = bt_units[k + 1].tolist()
        if not np.allclose(row["units"], units, rtol=0.0, atol=tolerance):
            diffs["units"] = {"session": row["units"], "backtest": units}
        cost = float(bt_costs[k + 1])
        if not abs(float(row["cost"]) - cost) <= tolerance:
            diffs["cost"] = {"session": row["cost"], "backtest": cost}
        traded = bt_traded[k].tolist()
        if not np.allclose(row["traded"], traded, rtol=0.0, atol=tolerance):
            diffs["fill"] = {"session": row["traded"], "backtest": traded}
        if str(stamps[k]) != _iso(row["t"]):
            diffs["t"] = {"session": row["t"], "backtest": str(stamps[k])}
        if diffs:
            divergences.append(Divergence(int(row["seq"]), str(row["t"]), diffs))
    return ParityReport(
        bars_compared=n,
        session_bars=len(rows),
        backtest_bars=n_bt,
        tolerance=tolerance,
        max_abs_equity_diff=max_diff,
        final_equity_session=float(rows[-1]["value"]) if rows else None,
        final_equity_backtest=float(bt_eq[-1]) if n_bt else None,
        fills_session=sum(1 for r in rows if any(u != 0.0 for u in r["traded"])),
        fills_backtest=int((bt_traded != 0.0).any(axis=1).sum()),
        divergences=divergences,
    )


def _iso(value: Any) -> str:
    stamp = np.datetime64(str(value).replace("+00:00", "").replace("Z", ""), "s")
    return str(np.datetime_as_string(stamp, unit="s", timezone="UTC"))
