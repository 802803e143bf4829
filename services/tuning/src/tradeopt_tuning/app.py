"""The tuning service app.

``uvicorn tradeopt_tuning.app:create_app --factory --port 8003``
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy import func, select

from tradeopt_common.logging import get_logger
from tradeopt_common.web.app import create_service_app
from tradeopt_common.web.state import AppState
from tradeopt_tuning import metrics
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.models import Study, StudyStatus, Trial, TrialState
from tradeopt_tuning.routes import routers

log = get_logger(__name__)
GAUGE_INTERVAL_SECONDS = 15.0


async def update_gauges(state: AppState) -> None:
    """Set ``tradeopt_tuning_studies{status}`` and ``tradeopt_tuning_trials{state}`` once."""
    async with state.db.unit_of_work() as session:
        studies = dict(
            (await session.execute(select(Study.status, func.count()).group_by(Study.status))).all()
        )
        trials = dict(
            (await session.execute(select(Trial.state, func.count()).group_by(Trial.state))).all()
        )
    for status in StudyStatus:
        metrics.STUDIES.labels(status.value).set(studies.get(status.value, 0))
    for trial_state in TrialState:
        metrics.TRIALS.labels(trial_state.value).set(trials.get(trial_state.value, 0))


async def refresh_gauges(state: AppState) -> None:
    """Keep the study and trial gauges current for the app's lifetime."""
    while True:
        try:
            await update_gauges(state)
        except Exception as exc:
            log.debug("metrics.tuning_gauges_failed", error=str(exc))
        await asyncio.sleep(GAUGE_INTERVAL_SECONDS)


def create_app(settings: TuningSettings | None = None) -> FastAPI:
    """Build the tuning service."""
    return create_service_app(
        "tuning",
        routers=routers,
        settings=settings or get_tuning_settings(),
        description="Hyperparameter studies (Optuna) whose trials are training runs: search "
        "spaces, samplers, parallel trials, cancel and resume; the best trial's model carries "
        "the study's trial count for the deflated Sharpe ratio.",
        background=[refresh_gauges],
    )
