"""The strategy service app.

``uvicorn tradeopt_strategy.app:create_app --factory --port 8005``
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import or_, select

from tradeopt_common.db.base import utcnow
from tradeopt_common.observability.gauges import set_counts
from tradeopt_common.web.app import create_service_app, periodically
from tradeopt_common.web.state import AppState
from tradeopt_strategy import metrics
from tradeopt_strategy.config import StrategySettings, get_strategy_settings
from tradeopt_strategy.models import LIVE_STATUSES, PaperSession, SessionStatus
from tradeopt_strategy.routes import routers

#: Sessions that ended longer ago than this drop out of the per-session metrics.
RECENT = timedelta(days=1)


async def update_gauges(state: AppState) -> None:
    """Set the trading KPIs of every session still trading or ended within :data:`RECENT`."""
    async with state.db.unit_of_work() as session:
        await set_counts(session, metrics.SESSIONS, PaperSession.status, SessionStatus)
        rows = (
            await session.execute(
                select(PaperSession)
                .where(
                    or_(
                        PaperSession.status.in_(LIVE_STATUSES),
                        PaperSession.updated_at >= utcnow() - RECENT,
                    )
                )
                .limit(500)
            )
        ).scalars()
        for gauge in metrics.PER_SESSION:
            gauge.clear()
        for paper in rows:
            labels = (str(paper.id), str(paper.strategy_id), paper.mode)
            metrics.EQUITY.labels(*labels).set(paper.equity or 0.0)
            metrics.DRAWDOWN.labels(*labels).set(paper.drawdown)
            metrics.POSITION.labels(*labels).set(sum(abs(w) for w in paper.position or []))
            metrics.REALISED_PNL.labels(*labels).set(paper.realised_pnl)
            metrics.UNREALISED_PNL.labels(*labels).set(paper.unrealised_pnl)
            metrics.ORDERS.labels(*labels).set(paper.n_orders)
            metrics.REJECTED.labels(*labels).set(paper.n_rejected)
            metrics.HALTED.labels(*labels).set(1.0 if paper.halt_reason else 0.0)
            metrics.BARS.labels(*labels).set(paper.n_bars)


def create_app(settings: StrategySettings | None = None) -> FastAPI:
    """Build the strategy service."""
    return create_service_app(
        "strategy",
        routers=routers,
        settings=settings or get_strategy_settings(),
        description="Strategies from evaluated models: deterministic signals, paper trading "
        "(replay of a dataset range or live bars) on the backtest's execution model, risk "
        "limits and a kill switch, backtest-paper parity reports, trading KPIs.",
        background=[periodically(update_gauges, "metrics.strategy_gauges_failed")],
    )
