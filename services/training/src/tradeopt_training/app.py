"""The training service app: ``uvicorn tradeopt_training.app:create_app --factory --port 8002``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy import func, select

from tradeopt_common.logging import get_logger
from tradeopt_common.web.app import create_service_app
from tradeopt_common.web.state import AppState
from tradeopt_training import metrics
from tradeopt_training.config import TrainingSettings, get_training_settings
from tradeopt_training.models import RunStatus, TrainingRun
from tradeopt_training.routes import routers

log = get_logger(__name__)
GAUGE_INTERVAL_SECONDS = 15.0


async def update_run_gauges(state: AppState) -> None:
    """Set ``tradeopt_training_runs{status}`` from the database once."""
    async with state.db.unit_of_work() as session:
        rows = await session.execute(
            select(TrainingRun.status, func.count()).group_by(TrainingRun.status)
        )
        counts = dict(rows.all())
    for status in RunStatus:
        metrics.RUNS.labels(status.value).set(counts.get(status.value, 0))


async def refresh_run_gauges(state: AppState) -> None:
    """Keep ``tradeopt_training_runs{status}`` current for the app's lifetime."""
    while True:
        try:
            await update_run_gauges(state)
        except Exception as exc:
            log.debug("metrics.run_gauges_failed", error=str(exc))
        await asyncio.sleep(GAUGE_INTERVAL_SECONDS)


def create_app(settings: TrainingSettings | None = None) -> FastAPI:
    """Build the training service."""
    return create_service_app(
        "training",
        routers=routers,
        settings=settings or get_training_settings(),
        description="Training runs of RL agents on datasets, and the model registry.",
        background=[refresh_run_gauges],
    )
