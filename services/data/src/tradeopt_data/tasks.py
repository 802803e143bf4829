"""Celery shims over the job bodies in ``datajob`` (imported only by the worker)."""

from __future__ import annotations

from typing import Any

from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_task
from tradeopt_data import datajob
from tradeopt_data.worker import celery_app


@job_task(celery_app, TaskName.DATA_INGEST_BARS)
def ingest_bars(ctx: JobContext) -> dict[str, Any]:
    """Ingest the bars a dataset asks for (the dataset follows the job: ``service.DATASET``)."""
    return datajob.ingest(ctx)


@job_task(celery_app, TaskName.DATA_BUILD_FEATURES)
def build_features(ctx: JobContext) -> dict[str, Any]:
    """Compute and cache a feature set of a dataset."""
    return datajob.build_features(ctx)
