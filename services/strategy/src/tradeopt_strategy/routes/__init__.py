"""HTTP routes of the strategy service."""

from tradeopt_strategy.routes.paper_sessions import router as paper_sessions_router
from tradeopt_strategy.routes.strategies import router as strategies_router

routers = [strategies_router, paper_sessions_router]

__all__ = ["routers"]
