"""Celery shims over the job bodies (imported only by the worker). Evaluations follow their jobs
through ``service.EVALUATION``.
"""

from __future__ import annotations

from typing import Any

from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_task
from tradeopt_evaluation import evaljob, walkforward
from tradeopt_evaluation.config import get_evaluation_settings
from tradeopt_evaluation.worker import celery_app


@job_task(celery_app, TaskName.EVALUATION_EVALUATE)
def evaluate(ctx: JobContext) -> dict[str, Any]:
    """Run one evaluation."""
    settings = get_evaluation_settings()
    return evaljob.evaluate(
        ctx,
        random_seeds=settings.evaluation_random_seeds,
        bootstrap_resamples=settings.evaluation_bootstrap_resamples,
    )


@job_task(celery_app, TaskName.EVALUATION_WALK_FORWARD)
def walk_forward(ctx: JobContext) -> dict[str, Any]:
    """Run one walk-forward evaluation: start the fold runs through the training service, park
    until they have ended (no worker held), then evaluate the folds.
    """
    return walkforward.walk_forward_job(ctx)
