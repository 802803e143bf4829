"""HTTP routes of the tuning service."""

from tradeopt_tuning.routes.results import router as results_router
from tradeopt_tuning.routes.studies import router as studies_router
from tradeopt_tuning.routes.walkforward import router as walk_forward_router

routers = [studies_router, results_router, walk_forward_router]

__all__ = ["routers"]
