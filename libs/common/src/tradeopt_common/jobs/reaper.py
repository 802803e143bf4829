"""The reaper: a beat-scheduled task that recovers jobs whose worker died (stale heartbeat),
jobs whose broker message was lost (e.g. Redis restarted without persistence), and parked parents
whose children have all ended but that nobody woke (``waiting`` jobs are never stale).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task

from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.broker import task_ids_in_broker
from tradeopt_common.jobs.dispatch import CeleryDispatcher, Dispatcher
from tradeopt_common.jobs.models import Job
from tradeopt_common.jobs.names import Queue, TaskName
from tradeopt_common.jobs.runtime import JobRuntime, get_runtime
from tradeopt_common.logging import get_logger
from tradeopt_common.observability import metrics
from tradeopt_common.web.idempotency import purge_expired

log = get_logger(__name__)


def reap_once(runtime: JobRuntime, dispatcher: Dispatcher) -> jobs.ReapReport:
    """One reaper pass with the runtime's settings; publishes after commit."""
    s = runtime.settings
    in_broker = task_ids_in_broker(runtime.redis, [q.value for q in Queue])

    async def _go() -> jobs.ReapReport:
        async with runtime.db.unit_of_work() as session:
            report = await jobs.reap(
                session,
                stale_after=timedelta(seconds=s.job_stale_after_seconds),
                requeue_after=timedelta(seconds=s.job_requeue_after_seconds),
                in_broker=in_broker,
                dispatcher=dispatcher,
            )
            jobs.publish_all(session, dispatcher, report)
            purged = await purge_expired(session)
            if purged:
                log.info("idempotency.purged", records=purged)
            return report

    report = runtime.run(_go())
    for outcome, items in (
        ("requeued", report.requeued),
        ("failed", report.failed),
        ("canceled", report.canceled),
        ("republished", report.republished),
        ("woken", report.woken),
        ("renotified", report.renotified),
    ):
        for job in items:
            _log(outcome, job)
    return report


def _log(outcome: str, job: Job) -> None:
    metrics.JOBS_REAPED.labels(job.kind, outcome).inc()
    if outcome in ("failed", "canceled"):
        metrics.JOBS_FINISHED.labels(job.kind, job.status).inc()
    log.warning(
        "job.reaped", job_id=str(job.id), kind=job.kind, outcome=outcome, message=job.message
    )


@shared_task(name=TaskName.JOBS_REAP_STALE.value, ignore_result=True, acks_late=False)
def reap_stale() -> dict[str, Any]:
    """Beat entry point (queue ``maintenance``)."""
    from celery import current_app

    report = reap_once(get_runtime(), CeleryDispatcher(current_app))
    return {
        "requeued": len(report.requeued),
        "failed": len(report.failed),
        "canceled": len(report.canceled),
        "republished": len(report.republished),
        "woken": len(report.woken),
        "renotified": len(report.renotified),
    }
