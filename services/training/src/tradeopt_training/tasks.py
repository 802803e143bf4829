"""Celery shims over the job bodies (imported only by the worker)."""

from __future__ import annotations

from typing import Any

from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_task
from tradeopt_training import trainjob
from tradeopt_training.worker import celery_app


@job_task(celery_app, TaskName.TRAINING_TRAIN_RUN)
def train_run(ctx: JobContext) -> dict[str, Any]:
    """Train one run (the run follows the job: ``service.RUN``)."""
    return trainjob.train_run(ctx)
