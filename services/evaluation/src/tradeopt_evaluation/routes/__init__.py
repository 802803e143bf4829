"""HTTP routes of the evaluation service."""

from tradeopt_evaluation.routes.evaluations import router as evaluations_router

routers = [evaluations_router]

__all__ = ["routers"]
