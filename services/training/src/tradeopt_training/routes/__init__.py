"""HTTP routes of the training service, one module per resource."""

from tradeopt_training.routes.algorithms import router as algorithms_router
from tradeopt_training.routes.models import router as models_router
from tradeopt_training.routes.runs import router as runs_router

routers = [runs_router, models_router, algorithms_router]

__all__ = ["routers"]
