"""The tuning service app.

``uvicorn tradeopt_tuning.app:create_app --factory --port 8003``
"""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.db.base import utcnow
from tradeopt_common.observability.gauges import set_counts
from tradeopt_common.web.app import create_service_app, periodically
from tradeopt_common.web.state import AppState
from tradeopt_tuning import metrics
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.models import Study, StudyStatus, Trial, TrialState
from tradeopt_tuning.repository import StudyRepository
from tradeopt_tuning.routes import routers

#: Studies that may still make progress (``tradeopt_tuning_study_idle_seconds``).
ACTIVE = (StudyStatus.QUEUED, StudyStatus.RUNNING, StudyStatus.WAITING)


async def update_gauges(state: AppState) -> None:
    """Set ``tradeopt_tuning_studies{status}``, ``tradeopt_tuning_trials{state}`` and
    ``tradeopt_tuning_study_idle_seconds{study_id}`` (active studies only) once.
    """
    async with state.db.unit_of_work() as session:
        await set_counts(session, metrics.STUDIES, Study.status, StudyStatus)
        await set_counts(session, metrics.TRIALS, Trial.state, TrialState)
        activity = await StudyRepository(session).last_activity([s.value for s in ACTIVE])
    now = utcnow()
    metrics.STUDY_IDLE.clear()
    for study_id, last in activity.items():
        if last.tzinfo is None:  # SQLite returns naive UTC
            last = last.replace(tzinfo=now.tzinfo)
        metrics.STUDY_IDLE.labels(str(study_id)).set(max(0.0, (now - last).total_seconds()))


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
