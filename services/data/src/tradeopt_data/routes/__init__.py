"""HTTP routes of the data service, one module per resource."""

from tradeopt_data.routes.datasets import router as datasets_router
from tradeopt_data.routes.features import router as features_router

routers = [datasets_router, features_router]

__all__ = ["routers"]
