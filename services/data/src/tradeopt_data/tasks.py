"""Celery shims over ``service`` (imported only by the worker)."""

from __future__ import annotations

from typing import Any

from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_task
from tradeopt_data import service
from tradeopt_data.worker import celery_app


@job_task(celery_app, TaskName.DATA_INGEST_BARS, on_end=service.on_ingest_end)
def ingest_bars(ctx: JobContext) -> dict[str, Any]:
    """Ingest the bars a dataset asks for."""
    return service.ingest(ctx)


@job_task(celery_app, TaskName.DATA_BUILD_FEATURES)
def build_features(ctx: JobContext) -> dict[str, Any]:
    """Compute and cache a feature set of a dataset."""
    return service.build_features(ctx)
