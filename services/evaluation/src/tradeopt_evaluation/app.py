"""The evaluation service app.

``uvicorn tradeopt_evaluation.app:create_app --factory --port 8004``
"""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.web.app import create_service_app
from tradeopt_evaluation.config import EvaluationSettings, get_evaluation_settings
from tradeopt_evaluation.routes import routers


def create_app(settings: EvaluationSettings | None = None) -> FastAPI:
    """Build the evaluation service."""
    return create_service_app(
        "evaluation",
        routers=routers,
        settings=settings or get_evaluation_settings(),
        description="Out-of-sample backtests of models and baselines: metrics, benchmarks, "
        "statistics (Sharpe CI, probabilistic and deflated Sharpe), diagnostics, reports.",
    )
