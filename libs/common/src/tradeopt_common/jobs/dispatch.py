"""Sending a job to its queue: by task name, with the job id only, after commit."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.session import after_commit
from tradeopt_common.logging import get_logger

if TYPE_CHECKING:
    from celery import Celery

    from tradeopt_common.jobs.models import Job

log = get_logger(__name__)


class Dispatcher(Protocol):
    """Puts a job id on a queue."""

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        """Publish one message for the job. May raise if the broker is unreachable."""
        ...


class CeleryDispatcher:
    """Publishes with ``send_task`` (the API never imports task code). The task id is the job id."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        """Publish ``{"job_id": job_id}`` to ``queue`` under ``task_name``; the task id is the
        job id unless given.
        """
        self.app.send_task(
            task_name,
            kwargs={"job_id": job_id},
            queue=queue,
            task_id=task_id or job_id,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )


def enqueue_after_commit(session: AsyncSession, dispatcher: Dispatcher, job: Job) -> None:
    """Publish ``job`` once the unit of work commits. If publishing fails the job stays
    ``queued`` in the database and the reaper publishes it again later: nothing is lost.
    """
    job_id, kind, queue = str(job.id), job.kind, job.queue

    async def _send() -> None:
        try:
            await asyncio.to_thread(dispatcher.send, job_id, kind, queue)
            log.info("job.enqueued", job_id=job_id, kind=kind, queue=queue)
        except Exception as exc:
            log.warning("job.enqueue_failed", job_id=job_id, kind=kind, error=str(exc))

    after_commit(session, _send)


def notify_ended_after_commit(session: AsyncSession, dispatcher: Dispatcher, job: Job) -> None:
    """After commit, ask the owning service's worker to run the end hook of a job that ended
    outside its worker (so resources such as datasets follow their job).
    """
    from tradeopt_common.jobs.names import job_ended_task

    job_id, queue = str(job.id), job.queue

    async def _send() -> None:
        try:
            await asyncio.to_thread(
                dispatcher.send, job_id, job_ended_task(queue), queue, f"{job_id}.ended"
            )
        except Exception as exc:
            log.warning("job.end_notify_failed", job_id=job_id, error=str(exc))

    after_commit(session, _send)
