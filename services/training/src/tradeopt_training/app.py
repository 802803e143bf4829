"""The training service app: ``uvicorn tradeopt_training.app:create_app --factory --port 8002``."""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.observability.gauges import set_counts
from tradeopt_common.web.app import create_service_app, periodically
from tradeopt_common.web.state import AppState
from tradeopt_training import metrics
from tradeopt_training.config import TrainingSettings, get_training_settings
from tradeopt_training.models import RunStatus, TrainingRun
from tradeopt_training.routes import routers


async def update_run_gauges(state: AppState) -> None:
    """Set ``tradeopt_training_runs{status}`` from the database once."""
    async with state.db.unit_of_work() as session:
        await set_counts(session, metrics.RUNS, TrainingRun.status, RunStatus)


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """Build the training service."""
    return create_service_app(
        "training",
        routers=routers,
        settings=settings or get_training_settings(),
        description="Training runs of RL agents on datasets, and the model registry.",
        background=[periodically(update_run_gauges, "metrics.run_gauges_failed")],
    )
