"""The tuning service app.

``uvicorn tradeopt_tuning.app:create_app --factory --port 8003``
"""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.web.app import create_service_app
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.routes import routers


def create_app(settings: TuningSettings | None = None) -> FastAPI:
    """Build the tuning service."""
    return create_service_app(
        "tuning",
        routers=routers,
        settings=settings or get_tuning_settings(),
        description="Hyperparameter studies (Optuna) whose trials are training runs: search "
        "spaces, samplers, parallel trials, cancel and resume; the best trial's model carries "
        "the study's trial count for the deflated Sharpe ratio.",
    )
