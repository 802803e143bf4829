"""HTTP routes of the tuning service."""

from tradeopt_tuning.routes.results import router as results_router
from tradeopt_tuning.routes.studies import router as studies_router

routers = [studies_router, results_router]

__all__ = ["routers"]
