"""The tuning service app.

``uvicorn tradeopt_tuning.app:create_app --factory --port 8003``
"""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.observability.gauges import set_counts
from tradeopt_common.web.app import create_service_app, periodically
from tradeopt_common.web.state import AppState
from tradeopt_tuning import metrics
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.models import Study, StudyStatus, Trial, TrialState
from tradeopt_tuning.routes import routers


async def update_gauges(state: AppState) -> None:
    """Set ``tradeopt_tuning_studies{status}`` and ``tradeopt_tuning_trials{state}`` once."""
    async with state.db.unit_of_work() as session:
        await set_counts(session, metrics.STUDIES, Study.status, StudyStatus)
        await set_counts(session, metrics.TRIALS, Trial.state, TrialState)


def create_app(settings: TuningSettings | None = None) -> FastAPI:
    """Build the tuning service."""
    return create_service_app(
        "tuning",
        routers=routers,
        settings=settings or get_tuning_settings(),
        description="Hyperparameter studies (Optuna) whose trials are training runs: search "
        "spaces, samplers, parallel trials, cancel and resume; the best trial's model carries "
        "the study's trial count for the deflated Sharpe ratio.",
        background=[periodically(update_gauges, "metrics.tuning_gauges_failed")],
    )
