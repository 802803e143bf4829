"""Job state transitions. Every transition is one conditional UPDATE, so concurrent workers,
duplicate deliveries and the reaper can never move a job twice. Only flushes; the caller's unit
of work commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import JobNotFound, JobStateConflict
from tradeopt_common.jobs.dispatch import (
    Dispatcher,
    enqueue_after_commit,
    notify_ended_after_commit,
)
from tradeopt_common.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from tradeopt_common.jobs.names import queue_for


async def create_job(
    session: AsyncSession,
    dispatcher: Dispatcher,
    kind: str,
    *,
    params: dict[str, Any] | None = None,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
    max_attempts: int = 3,
    created_by: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Job:
    """Insert a ``queued`` job and publish it after the unit of work commits."""
    now = utcnow()
    job = Job(
        id=job_id or uuid.uuid4(),
        kind=kind,
        queue=queue_for(kind),
        status=JobStatus.QUEUED,
        params=params or {},
        resource_type=resource_type,
        resource_id=resource_id,
        max_attempts=max_attempts,
        created_by=created_by,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    enqueue_after_commit(session, dispatcher, job)
    return job


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    """The job, or :class:`JobNotFound`."""
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(f"job {job_id} does not exist")
    return job


async def claim(session: AsyncSession, job_id: uuid.UUID, worker: str) -> Job | None:
    """Take a ``queued`` job: it becomes ``running`` for ``worker`` with a fresh heartbeat and one
    more attempt. Returns ``None`` when the job is not claimable (already running elsewhere,
    finished, cancelled, or unknown), which makes duplicate deliveries harmless.
    """
    now = utcnow()
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False))
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            worker=worker,
            heartbeat_at=now,
            started_at=func.coalesce(Job.started_at, now),
            updated_at=now,
            message="running",
        )
        .returning(Job.id)
    )
    claimed = (await session.execute(stmt)).scalar_one_or_none()
    if claimed is None:
        return None
    return await get_job(session, job_id)


@dataclass(frozen=True)
class Touch:
    """What a worker learns when it reports in: whether it still owns the job, and whether a
    cancel was requested.
    """

    owned: bool
    cancel_requested: bool


async def touch(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    *,
    progress: float | None = None,
    message: str | None = None,
) -> Touch:
    """Heartbeat (and optionally progress) from the worker that owns the running job."""
    values: dict[str, Any] = {"heartbeat_at": utcnow(), "updated_at": utcnow()}
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, float(progress)))
    if message is not None:
        values["message"] = message[:2000]
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING)
        .values(**values)
        .returning(Job.cancel_requested)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return Touch(owned=False, cancel_requested=False)
    return Touch(owned=True, cancel_requested=bool(row[0]))


async def finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    status: JobStatus,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    message: str | None = None,
) -> bool:
    """End a running job owned by ``worker``. Returns ``False`` if it no longer owns it (the
    reaper gave it to someone else), in which case nothing changes.
    """
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"finish needs a terminal status, got {status}")
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "updated_at": now,
        "error": error,
        "message": message or status.value,
    }
    if status is JobStatus.SUCCEEDED:
        values["progress"] = 1.0
    if result is not None:
        values["result"] = result
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING)
        .values(**values)
        .returning(Job.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def release(session: AsyncSession, job_id: uuid.UUID, worker: str, reason: str) -> bool:
    """Give a running job back to the queue (its worker is shutting down). The attempt stays
    counted. Whoever holds the broker message, or the reaper, runs it again.
    """
    now = utcnow()
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING)
        .values(
            status=JobStatus.QUEUED,
            worker=None,
            enqueued_at=now,
            updated_at=now,
            message=f"released: {reason}",
        )
        .returning(Job.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def request_cancel(
    session: AsyncSession, job_id: uuid.UUID, dispatcher: Dispatcher | None = None
) -> Job:
    """Cancel a job: a queued job ends ``canceled`` at once (its service's end hook is notified
    through ``dispatcher``); a running job gets ``cancel_requested`` and its worker stops at its
    next check. Finished jobs → 409.
    """
    job = await get_job(session, job_id)
    now = utcnow()
    if job.status == JobStatus.QUEUED:
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.CANCELED,
                cancel_requested=True,
                finished_at=now,
                updated_at=now,
                message="canceled before it started",
            )
            .returning(Job.id)
        )
    elif job.status == JobStatus.RUNNING:
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
            .values(cancel_requested=True, updated_at=now, message="cancel requested")
            .returning(Job.id)
        )
    else:
        raise JobStateConflict(f"job {job_id} is already {job.status}; it cannot be canceled")
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        # It moved between our read and our write; report its new state.
        job = await get_job(session, job_id)
        raise JobStateConflict(f"job {job_id} changed to {job.status} while canceling; try again")
    job = await get_job(session, job_id)
    if job.is_terminal and dispatcher is not None:
        notify_ended_after_commit(session, dispatcher, job)
    return job


@dataclass(frozen=True)
class ReapReport:
    """What one reaper pass did."""

    requeued: list[Job]
    failed: list[Job]
    canceled: list[Job]
    republished: list[Job]


async def reap(
    session: AsyncSession,
    *,
    stale_after: timedelta,
    requeue_after: timedelta,
    in_broker: set[str] | None,
    now: datetime | None = None,
) -> ReapReport:
    """Recover jobs whose worker died and jobs whose message was lost.

    - ``running`` with a heartbeat older than ``stale_after``: back to ``queued`` (to be published
      again) while attempts remain; otherwise ``failed`` with a clear error; ``canceled`` if a
      cancel was pending.
    - ``queued`` since before ``requeue_after`` whose id is not in the broker (``in_broker`` is the
      set of job ids the broker holds; ``None`` means unknown, then they are re-sent anyway, which
      is safe because claims are idempotent): published again.

    The caller publishes ``requeued`` and ``republished`` after commit.
    """
    now = now or utcnow()
    report = ReapReport([], [], [], [])
    stale = (
        (
            await session.execute(
                select(Job).where(
                    Job.status == JobStatus.RUNNING, Job.heartbeat_at < now - stale_after
                )
            )
        )
        .scalars()
        .all()
    )
    for job in stale:
        lost = (
            f"worker {job.worker} stopped heartbeating at {job.heartbeat_at:%Y-%m-%dT%H:%M:%SZ} "
            f"during attempt {job.attempts} of {job.max_attempts}"
        )
        if job.cancel_requested:
            values: dict[str, Any] = dict(
                status=JobStatus.CANCELED, finished_at=now, message=f"canceled; {lost}"
            )
            bucket = report.canceled
        elif job.attempts >= job.max_attempts:
            values = dict(
                status=JobStatus.FAILED,
                finished_at=now,
                error=f"gave up after {job.attempts} attempts: {lost}",
                message="failed: worker lost too many times",
            )
            bucket = report.failed
        else:
            values = dict(
                status=JobStatus.QUEUED,
                worker=None,
                enqueued_at=now,
                message=f"re-enqueued: {lost}",
            )
            bucket = report.requeued
        stmt = (
            update(Job)
            .where(
                and_(
                    Job.id == job.id,
                    Job.status == JobStatus.RUNNING,
                    Job.heartbeat_at == job.heartbeat_at,
                )
            )
            .values(updated_at=now, **values)
            .returning(Job.id)
        )
        if (await session.execute(stmt)).scalar_one_or_none() is not None:
            bucket.append(await get_job(session, job.id))

    waiting = (
        (
            await session.execute(
                select(Job).where(
                    Job.status == JobStatus.QUEUED, Job.enqueued_at < now - requeue_after
                )
            )
        )
        .scalars()
        .all()
    )
    for job in waiting:
        if in_broker is not None and str(job.id) in in_broker:
            continue
        stmt = (
            update(Job)
            .where(Job.id == job.id, Job.status == JobStatus.QUEUED)
            .values(enqueued_at=now, updated_at=now)
            .returning(Job.id)
        )
        if (await session.execute(stmt)).scalar_one_or_none() is not None:
            report.republished.append(job)
    return report


def publish_all(session: AsyncSession, dispatcher: Dispatcher, report: ReapReport) -> None:
    """After commit: publish re-queued jobs, and notify the end hooks of jobs the reaper ended."""
    for job in [*report.requeued, *report.republished]:
        enqueue_after_commit(session, dispatcher, job)
    for job in [*report.failed, *report.canceled]:
        notify_ended_after_commit(session, dispatcher, job)


async def count_by_status(session: AsyncSession) -> dict[tuple[str, str], int]:
    """``{(kind, status): n}`` for queued and running jobs (for gauges)."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .group_by(Job.kind, Job.status)
    )
    return {(kind, status): n for kind, status, n in rows.all()}


async def oldest_heartbeat(session: AsyncSession) -> datetime | None:
    """The oldest heartbeat among running jobs."""
    return (
        await session.execute(
            select(func.min(Job.heartbeat_at)).where(Job.status == JobStatus.RUNNING)
        )
    ).scalar_one_or_none()
