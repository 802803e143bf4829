"""Prometheus metrics of the strategy service (DESIGN §8): trading KPIs per paper session.

The API refreshes them from the database in the background (every session still trading plus
the ones that ended in the last day), so any API replica shows every session's book.
"""

from __future__ import annotations

from prometheus_client import Gauge

_LABELS = ["session_id", "strategy_id", "mode"]

EQUITY = Gauge("tradeopt_paper_equity", "Paper session equity (account currency).", _LABELS)
DRAWDOWN = Gauge(
    "tradeopt_paper_drawdown", "Paper session drawdown (equity / peak - 1, <= 0).", _LABELS
)
POSITION = Gauge(
    "tradeopt_paper_position", "Paper session gross position (sum of |weights|).", _LABELS
)
REALISED_PNL = Gauge("tradeopt_paper_realised_pnl", "Paper session realised PnL.", _LABELS)
UNREALISED_PNL = Gauge("tradeopt_paper_unrealised_pnl", "Paper session unrealised PnL.", _LABELS)
ORDERS = Gauge("tradeopt_paper_orders", "Paper session filled orders so far.", _LABELS)
REJECTED = Gauge(
    "tradeopt_paper_rejected_orders", "Paper session orders rejected by risk.", _LABELS
)
HALTED = Gauge("tradeopt_paper_halted", "1 when the paper session was halted.", _LABELS)
BARS = Gauge("tradeopt_paper_bars", "Paper session processed bars.", _LABELS)
SESSIONS = Gauge("tradeopt_paper_sessions", "Paper sessions by status.", ["status"])

PER_SESSION = (
    EQUITY,
    DRAWDOWN,
    POSITION,
    REALISED_PNL,
    UNREALISED_PNL,
    ORDERS,
    REJECTED,
    HALTED,
    BARS,
)
