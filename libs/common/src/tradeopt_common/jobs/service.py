"""Job state transitions. Every transition is one conditional UPDATE, so concurrent workers,
duplicate deliveries and the reaper can never move a job twice. Only flushes; the caller's unit
of work commits.

Job-backed resources
--------------------
Each transition made here is mirrored on the job's resource (dataset, run, evaluation, …) in the
same transaction through the resource's declared :class:`~tradeopt_common.jobs.resources.
ResourceBinding` when this process knows it; terminal transitions made by a process that does not
(the reaper in another service's worker) send ``<queue>.job_ended`` to the owning service instead.

Parked parent jobs
------------------
A job can start child jobs (its own queue or another service's, also through that service's HTTP
API) and park in ``waiting``: ``running → waiting`` (:func:`park`) holds no worker and has no
heartbeat, so the reaper never takes it for dead. ``waiting → queued`` (:func:`wake_if_done`)
happens in the transaction that ends its **last** active child (any end: succeeded, failed,
canceled, reaped) — or, for a job parked with ``wake="any"``, the transaction that ends **any**
of the children it parked on (a study that keeps ``parallelism`` trials running); the parent is
published after commit and its job function runs again from the ``state`` it recorded when it
parked. A wake-up is not an attempt: ``attempts`` goes back by one so
the next claim counts the same attempt again.

No lost wake-up: every path that may wake a parent changes child rows before it locks the parent
row (``SELECT … FOR UPDATE``) and counts active children only after holding that lock; the park
adopts its children first, then moves the parent to ``waiting`` (taking its row lock) and counts
active children in the same transaction — if none is left it does not park (the runner runs the
job function again at once). Whichever of "last child ends" and "parent parks" commits second sees
the other's effect. Children are always locked before their parent (also by a cancel cascade), so
the two paths cannot deadlock. The reaper also wakes waiting parents whose children have all ended,
or (``wake="any"``) one of whose awaited children ended (a lost message, a crash between commit
and publish).

Intermediate reports: a running child appends ``{"step": n, ...}`` to its ``reports``
(:func:`report`). A parent parked with ``wake="any"`` and ``reports_seen={child: k}`` (how many of
that child's reports it has handled) also wakes as soon as an awaited child holds more than ``k``
reports — the tuning study reads a trial run's evaluations and asks its pruner. The same ordering
makes it race-free: the report changes the child row, then locks the parent; the park counts the
reports while it holds the parent's lock.

Cancel works on queued, running and waiting jobs and cascades to active children first; a
parent that ends ``failed`` cancels its active children too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Executable, Update, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import JobNotFound, JobStateConflict
from tradeopt_common.jobs.dispatch import (
    Dispatcher,
    enqueue_after_commit,
    notify_ended_after_commit,
)
from tradeopt_common.jobs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobStatus
from tradeopt_common.jobs.names import queue_for
from tradeopt_common.jobs.resources import apply_job_status

#: Key of ``job.state`` reserved for the parked parent's progress span while it waits.
WAIT_KEY = "_wait"

#: When a parked parent wakes: once ``all`` its children ended, or once ``any`` awaited one did.
WakeOn = Literal["all", "any"]


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
    parent_id: uuid.UUID | None = None,
    deadline: timedelta | None = None,
) -> Job:
    """Insert a ``queued`` job and publish it after the unit of work commits. A ``parent_id``
    makes it a child of that job (see "Parked parent jobs" above); a ``deadline`` (from now)
    bounds how long it may stay unfinished (:func:`reap` enforces it).
    """
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
        parent_id=parent_id,
        state={},
        deadline_at=now + deadline if deadline is not None else None,
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


async def database_now(session: AsyncSession) -> datetime:
    """Now by the database's clock on PostgreSQL, so heartbeats are stamped and judged by one
    clock whatever the workers' and the reaper's clocks say; the process clock on the embedded
    SQLite (one machine).
    """
    if session.get_bind().dialect.name != "postgresql":
        return utcnow()
    stamp: datetime = (await session.execute(select(func.statement_timestamp()))).scalar_one()
    return stamp


async def claim(session: AsyncSession, job_id: uuid.UUID, worker: str) -> Job | None:
    """Take a ``queued`` job: it becomes ``running`` for ``worker`` with a fresh heartbeat and one
    more attempt. Returns ``None`` when the job is not claimable (already running elsewhere,
    finished, cancelled, waiting, or unknown), which makes duplicate deliveries harmless. The
    job's resource becomes ``running`` in the same transaction.
    """
    now = await database_now(session)
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
    return await _transition(session, stmt, job_id)


async def _transition(session: AsyncSession, stmt: Executable, job_id: uuid.UUID) -> Job | None:
    """Run a guarded ``UPDATE job … RETURNING id``: the job after it, its resource following it in
    the same transaction (:func:`apply_job_status`); ``None`` when the guard matched no row.
    """
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        return None
    job = await get_job(session, job_id)
    await apply_job_status(session, job)
    return job


@dataclass(frozen=True)
class Touch:
    """What a worker learns when it reports in: whether it still owns the job, and whether a
    cancel was requested.
    """

    owned: bool
    cancel_requested: bool


def _update_owned(job_id: uuid.UUID, worker: str) -> Update:
    """``UPDATE job`` of the running job that ``worker`` owns: the guard of every report from a
    worker (a job the reaper gave to another worker, or that ended, matches no row).
    """
    return update(Job).where(
        Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING
    )


async def touch(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    *,
    progress: float | None = None,
    message: str | None = None,
    state: dict[str, Any] | None = None,
) -> Touch:
    """Heartbeat (and optionally progress, message, checkpoint ``state``) from the worker that
    owns the running job.
    """
    now = await database_now(session)
    values: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, float(progress)))
    if message is not None:
        values["message"] = message[:2000]
    if state is not None:
        values["state"] = state
    stmt = _update_owned(job_id, worker).values(**values).returning(Job.cancel_requested)
    row = (await session.execute(stmt)).first()
    if row is None:
        return Touch(owned=False, cancel_requested=False)
    return Touch(owned=True, cancel_requested=bool(row[0]))


async def report(
    session: AsyncSession,
    dispatcher: Dispatcher | None,
    job_id: uuid.UUID,
    worker: str,
    step: int,
    values: dict[str, Any],
) -> Touch:
    """Append the intermediate report ``{"step": step, **values}`` of the running job that
    ``worker`` owns (one per step: a step reported before, e.g. again after a resume from a
    checkpoint, is kept as first reported), then wake its parent if it is parked on new reports
    (published after commit through ``dispatcher``). Also a heartbeat.
    """
    job = (
        await session.execute(
            select(Job)
            .where(Job.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if job is None or job.status != JobStatus.RUNNING or job.worker != worker:
        return Touch(owned=False, cancel_requested=False)
    reports = list(job.reports or [])
    now = await database_now(session)
    fresh = all(int(r.get("step", -1)) != step for r in reports)
    if fresh:
        reports.append({"step": int(step), **values})
    await session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            reports=reports if fresh else Job.reports,
            heartbeat_at=now,
            updated_at=now,
        )
    )
    if fresh and job.parent_id is not None:  # child row changed first, then the parent's lock
        parent = await wake_if_done(session, job.parent_id)
        if parent is not None and dispatcher is not None:
            enqueue_after_commit(session, dispatcher, parent)
    return Touch(owned=True, cancel_requested=bool(job.cancel_requested))


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
    reaper gave it to someone else), in which case nothing changes. Only the job row; see
    :func:`end` for the whole end of a job (resource, children, parent).
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
    stmt = _update_owned(job_id, worker).values(**values).returning(Job.id)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def end(
    session: AsyncSession,
    dispatcher: Dispatcher | None,
    job_id: uuid.UUID,
    worker: str,
    status: JobStatus,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> Job | None:
    """The worker's end of a job: cancel its active children when it did not succeed (children
    first, see the module docstring), :func:`finish` it, mirror it on its resource and wake its
    parent if it was the last active child. ``None`` (and nothing changed, the caller rolls back)
    when ``worker`` no longer owns the job.
    """
    if status != JobStatus.SUCCEEDED:
        await cancel_children(session, dispatcher, job_id)
    if not await finish(session, job_id, worker, status, error=error, result=result):
        return None
    job = await get_job(session, job_id)
    await after_end(session, dispatcher, job)
    return job


async def after_end(
    session: AsyncSession, dispatcher: Dispatcher | None, job: Job, woken: list[Job] | None = None
) -> None:
    """What follows any terminal transition, in its transaction: the resource follows (or the
    owning service is notified), and the parent wakes when this was its last active child.
    Woken parents are published after commit through ``dispatcher``, or appended to ``woken``.
    """
    if not await apply_job_status(session, job):
        if job.resource_id is not None:
            # The owning service mirrors the end; until it has, the job stays ``end_pending``
            # and the reaper re-sends the notification (a lost message must not strand the
            # resource in queued/running).
            await session.execute(
                update(Job).where(Job.id == job.id).values(end_pending=True, updated_at=utcnow())
            )
            job.end_pending = True
        if dispatcher is not None:
            notify_ended_after_commit(session, dispatcher, job)
    if job.parent_id is not None:
        parent = await wake_if_done(session, job.parent_id)
        if parent is not None:
            if dispatcher is not None:
                enqueue_after_commit(session, dispatcher, parent)
            elif woken is not None:
                woken.append(parent)


async def release(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    reason: str,
    dispatcher: Dispatcher | None = None,
) -> bool:
    """Give a running job back to the queue (its worker is shutting down). The attempt stays
    counted. Whoever holds the broker message, or the reaper, runs it again.

    A job whose cancel was requested ends ``canceled`` instead (children first, its resource
    follows): back in ``queued`` it could never be claimed again (:func:`claim` refuses a
    cancel-requested job) and would stay queued forever.
    """
    now = utcnow()
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None or job.status != JobStatus.RUNNING or job.worker != worker:
        return False
    if job.cancel_requested:
        await cancel_children(session, dispatcher, job_id)
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == JobStatus.RUNNING)
            .values(
                status=JobStatus.CANCELED,
                finished_at=now,
                updated_at=now,
                message=f"canceled; released: {reason}",
            )
            .returning(Job.id)
        )
        if (await session.execute(stmt)).scalar_one_or_none() is None:
            return False
        await after_end(session, dispatcher, await get_job(session, job_id))
        return True
    stmt = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.worker == worker,
            Job.status == JobStatus.RUNNING,
            Job.cancel_requested.is_(False),
        )
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
    """Cancel a job and, first, its active children (recursively). A queued or waiting job ends
    ``canceled`` at once (its resource follows; its service's end hook is notified through
    ``dispatcher`` when this process does not know the binding); a running job gets
    ``cancel_requested`` and its worker stops at its next check. Finished jobs → 409.
    """
    job = await get_job(session, job_id)
    if job.is_terminal:
        raise JobStateConflict(f"job {job_id} is already {job.status}; it cannot be canceled")
    await cancel_children(session, dispatcher, job_id)
    now = utcnow()
    if job.status in (JobStatus.QUEUED, JobStatus.WAITING):
        was = job.status
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == was)
            .values(
                status=JobStatus.CANCELED,
                cancel_requested=True,
                finished_at=now,
                updated_at=now,
                message="canceled before it started"
                if was == JobStatus.QUEUED
                else "canceled while waiting for its children",
            )
            .returning(Job.id)
        )
    else:
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
            .values(cancel_requested=True, updated_at=now, message="cancel requested")
            .returning(Job.id)
        )
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        # It moved between our read and our write; report its new state.
        job = await get_job(session, job_id)
        raise JobStateConflict(f"job {job_id} changed to {job.status} while canceling; try again")
    job = await get_job(session, job_id)
    if job.is_terminal:
        await after_end(session, dispatcher, job)
    return job


async def cancel_children(
    session: AsyncSession, dispatcher: Dispatcher | None, parent_id: uuid.UUID
) -> list[uuid.UUID]:
    """Cancel every active child of a job (in id order, each with its own children first).
    Returns the ids it canceled or asked to stop. A child that ends meanwhile is skipped.
    """
    ids = (
        await session.scalars(
            select(Job.id)
            .where(Job.parent_id == parent_id, Job.status.in_(ACTIVE_STATUSES))
            .order_by(Job.id)
        )
    ).all()
    done = []
    for child_id in ids:
        try:
            await request_cancel(session, child_id, dispatcher)
            done.append(child_id)
        except JobStateConflict:
            continue
    return done


# ---------------------------------------------------------------------------------------------
# parked parents


class ParkOutcome(StrEnum):
    """What :func:`park` did."""

    PARKED = "parked"  # now ``waiting``; a child's end (or the reaper) re-enqueues it
    RESUME = "resume"  # every child had already ended: keep running, call the function again
    CANCELED = "canceled"  # a cancel was requested: end it ``canceled``
    LOST = "lost"  # this worker no longer owns the job


async def park(
    session: AsyncSession,
    job_id: uuid.UUID,
    worker: str,
    *,
    children: Iterable[uuid.UUID],
    state: dict[str, Any],
    progress: float | None = None,
    progress_to: float | None = None,
    message: str | None = None,
    wake: WakeOn = "all",
    reports_seen: dict[uuid.UUID, int] | None = None,
) -> ParkOutcome:
    """Park a running job on its children (see the module docstring for why it is race-free).

    ``children`` are adopted (their ``parent_id`` set) when they have no parent yet, e.g. jobs
    another service created over HTTP; a child of another parent is a ``ValueError``. ``state``
    is the checkpoint the job function gets back when it runs again. While waiting, the job's
    progress moves from ``progress`` towards ``progress_to`` as its children end. ``wake="all"``
    wakes it when every child has ended; ``wake="any"`` as soon as one of ``children`` has ended
    (if one already has, it does not park). ``reports_seen`` (only with ``wake="any"``): also wake
    as soon as one of those children holds more reports than the count given for it (if one
    already does, it does not park).
    """
    awaited = sorted(set(children))
    if wake not in ("all", "any"):
        raise ValueError(f"wake must be 'all' or 'any', got {wake!r}")
    if reports_seen and wake != "any":
        raise ValueError("reports_seen needs wake='any'")
    seen = {str(k): int(v) for k, v in (reports_seen or {}).items() if k in set(awaited)}
    for child_id in awaited:
        adopted = await session.execute(
            update(Job)
            .where(Job.id == child_id, (Job.parent_id.is_(None)) | (Job.parent_id == job_id))
            .values(parent_id=job_id)
            .returning(Job.id)
        )
        if adopted.scalar_one_or_none() is None:
            other = await session.get(Job, child_id)
            what = "does not exist" if other is None else f"is a child of job {other.parent_id}"
            raise ValueError(f"job {child_id} cannot be waited on: it {what}")
    now = await database_now(session)
    values: dict[str, Any] = {
        "status": JobStatus.WAITING,
        "worker": None,
        "heartbeat_at": None,
        "updated_at": now,
        "state": {
            **state,
            WAIT_KEY: {
                "from": progress,
                "to": progress_to,
                **({"wake": "any", "on": [str(c) for c in awaited]} if wake == "any" else {}),
                **({"seen": seen} if seen else {}),
            },
        },
        "message": (message or "waiting for child jobs")[:2000],
    }
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, float(progress)))
    stmt = (
        _update_owned(job_id, worker)
        .where(Job.cancel_requested.is_(False))
        .values(**values)
        .returning(Job.id)
    )
    if (await session.execute(stmt)).scalar_one_or_none() is None:
        job = await session.get(Job, job_id, populate_existing=True)
        if job is not None and job.status == JobStatus.RUNNING and job.worker == worker:
            return ParkOutcome.CANCELED
        return ParkOutcome.LOST
    # We hold the parent's row lock now: a child ending from here on waits for our commit and
    # then finds the parent waiting; one that ended before is visible to this count.
    if wake == "any":
        ready = await _active_among(session, job_id, awaited) < len(awaited) or (
            await _reported_past(session, seen)
        )
    else:
        ready = await _active_children(session, job_id) == 0
    if ready:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.RUNNING, worker=worker, heartbeat_at=now, message="running")
        )
        return ParkOutcome.RESUME
    job = await get_job(session, job_id)
    await apply_job_status(session, job)
    return ParkOutcome.PARKED


async def _active_children(session: AsyncSession, parent_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.parent_id == parent_id, Job.status.in_(ACTIVE_STATUSES))
        )
        or 0
    )


async def _active_among(session: AsyncSession, parent_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    if not ids:
        return 0
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.parent_id == parent_id,
                Job.id.in_(ids),
                Job.status.in_(ACTIVE_STATUSES),
            )
        )
        or 0
    )


async def _reported_past(session: AsyncSession, seen: dict[str, int]) -> bool:
    """Whether one of the children in ``seen`` holds more reports than the count given for it."""
    if not seen:
        return False
    rows = (
        await session.execute(
            select(Job.id, Job.reports).where(Job.id.in_([uuid.UUID(c) for c in seen]))
        )
    ).all()
    return any(len(reports or []) > seen[str(child)] for child, reports in rows)


def _reports_seen(job: Job) -> dict[str, int]:
    """The report counts a job parked with ``reports_seen`` has handled, by child id."""
    span = (job.state or {}).get(WAIT_KEY) or {}
    return dict(span.get("seen") or {})


def _wake_any_on(job: Job) -> list[uuid.UUID] | None:
    """The children a job parked with ``wake="any"`` waits on (``None``: it waits for all)."""
    span = (job.state or {}).get(WAIT_KEY) or {}
    if span.get("wake") != "any":
        return None
    return [uuid.UUID(c) for c in span.get("on") or []]


async def wake_if_done(session: AsyncSession, parent_id: uuid.UUID) -> Job | None:
    """Re-enqueue a ``waiting`` parent whose children have all ended — or, when it parked with
    ``wake="any"``, one of whose awaited children has ended (``waiting → queued``, one more
    wake-up, the parked attempt given back). Returns the woken parent — the caller publishes it
    after commit — or ``None`` (not waiting, or children still active; then only its progress
    moves). Locks the parent row: call after the child's own change.
    """
    parent = (
        await session.execute(
            select(Job)
            .where(Job.id == parent_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if parent is None or parent.status != JobStatus.WAITING:
        return None
    counts = dict(
        (
            await session.execute(
                select(Job.status, func.count())
                .where(Job.parent_id == parent_id)
                .group_by(Job.status)
            )
        ).all()
    )
    total = sum(counts.values())
    active = sum(n for s, n in counts.items() if s in ACTIVE_STATUSES)
    now = utcnow()
    awaited = _wake_any_on(parent)
    any_ended = awaited is not None and await _active_among(session, parent_id, awaited) < len(
        awaited
    )
    reported = not any_ended and await _reported_past(session, _reports_seen(parent))
    if active and not any_ended and not reported:
        span = (parent.state or {}).get(WAIT_KEY) or {}
        lo, hi = span.get("from"), span.get("to")
        values: dict[str, Any] = {
            "updated_at": now,
            "message": f"waiting for {active} of {total} child jobs",
        }
        if lo is not None and hi is not None and total:
            values["progress"] = lo + (hi - lo) * (total - active) / total
        await session.execute(update(Job).where(Job.id == parent_id).values(**values))
        return None
    stmt = (
        update(Job)
        .where(Job.id == parent_id, Job.status == JobStatus.WAITING)
        .values(
            status=JobStatus.QUEUED,
            enqueued_at=now,
            updated_at=now,
            attempts=func.greatest(Job.attempts - 1, 0)
            if session.get_bind().dialect.name == "postgresql"
            else func.max(Job.attempts - 1, 0),
            wakeups=Job.wakeups + 1,
            message=f"woken: all {total} child jobs ended"
            if not active
            else f"woken: a child job reported ({active} of {total} still active)"
            if reported
            else f"woken: a child job ended ({active} of {total} still active)",
        )
        .returning(Job.id)
    )
    return await _transition(session, stmt, parent_id)


@dataclass(frozen=True)
class ChildJob:
    """A child as its parent sees it."""

    id: uuid.UUID
    kind: str
    status: JobStatus
    progress: float
    error: str | None
    result: dict[str, Any] | None
    resource_type: str | None
    resource_id: uuid.UUID | None

    @property
    def ended(self) -> bool:
        """Whether the child has ended (in any way)."""
        return self.status in TERMINAL_STATUSES


async def children(session: AsyncSession, parent_id: uuid.UUID) -> list[ChildJob]:
    """A job's children, oldest first."""
    rows = (
        await session.scalars(
            select(Job).where(Job.parent_id == parent_id).order_by(Job.created_at, Job.id)
        )
    ).all()
    return [
        ChildJob(
            id=j.id,
            kind=j.kind,
            status=JobStatus(j.status),
            progress=j.progress,
            error=j.error,
            result=j.result,
            resource_type=j.resource_type,
            resource_id=j.resource_id,
        )
        for j in rows
    ]


# ---------------------------------------------------------------------------------------------
# the reaper


@dataclass(frozen=True)
class ReapReport:
    """What one reaper pass did."""

    requeued: list[Job]
    failed: list[Job]
    canceled: list[Job]
    republished: list[Job]
    woken: list[Job] = field(default_factory=list)
    #: terminal jobs whose resource had not followed: end notification sent again
    renotified: list[Job] = field(default_factory=list)


async def reap(
    session: AsyncSession,
    *,
    stale_after: timedelta,
    requeue_after: timedelta,
    in_broker: set[str] | None,
    now: datetime | None = None,
    dispatcher: Dispatcher | None = None,
) -> ReapReport:
    """Recover jobs whose worker died, jobs whose message was lost, and parents nobody woke.

    - ``running`` with a heartbeat older than ``stale_after``: back to ``queued`` (to be published
      again) while attempts remain; otherwise ``failed`` with a clear error; ``canceled`` if a
      cancel was pending. Failed/canceled jobs cancel their children, their resource follows (or
      their service is notified through ``dispatcher``) and their parent may wake.
    - ``queued`` since before ``requeue_after`` whose id is not in the broker (``in_broker`` is the
      set of job ids the broker holds; ``None`` means unknown, then they are re-sent anyway, which
      is safe because claims are idempotent): published again.
    - ``waiting`` with no active child: woken (``queued``). Waiting jobs are never stale.
    - ``queued`` with a cancel requested (it can never be claimed): ``canceled``.
    - past its ``deadline_at``: ``queued`` or ``waiting`` → ``failed`` (children canceled);
      ``running`` → asked to stop (cancel requested; it ends ``canceled`` at its next check).
    - ended but still ``end_pending`` (the owning service has not mirrored the end on the
      resource) since before ``requeue_after``: mirrored here when this process knows the
      resource's binding, else the end notification is sent again (``renotified``).

    The caller publishes ``requeued``, ``republished``, ``woken`` and ``renotified`` after
    commit (:func:`publish_all`).
    """
    now = now or await database_now(session)
    report = ReapReport([], [], [], [])
    await _enforce_deadlines(session, dispatcher, now, report)
    stale = (
        await session.scalars(
            select(Job).where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < now - stale_after)
        )
    ).all()
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
        if bucket is not report.requeued:  # children before their parent (lock order)
            await cancel_children(session, dispatcher, job.id)
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
            reaped = await get_job(session, job.id)
            bucket.append(reaped)
            if reaped.is_terminal:
                await after_end(session, dispatcher, reaped, report.woken)

    stuck = (
        await session.scalars(
            select(Job.id).where(Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(True))
        )
    ).all()
    for job_id in stuck:  # children before their parent (lock order)
        await cancel_children(session, dispatcher, job_id)
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(True))
            .values(
                status=JobStatus.CANCELED,
                finished_at=now,
                updated_at=now,
                message="canceled (a cancel was requested while it was handed back)",
            )
            .returning(Job.id)
        )
        if (await session.execute(stmt)).scalar_one_or_none() is not None:
            reaped = await get_job(session, job_id)
            report.canceled.append(reaped)
            await after_end(session, dispatcher, reaped, report.woken)

    waiting = (
        await session.scalars(
            select(Job).where(Job.status == JobStatus.QUEUED, Job.enqueued_at < now - requeue_after)
        )
    ).all()
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

    child = aliased(Job)
    orphaned = (
        await session.scalars(
            select(Job.id).where(
                Job.status == JobStatus.WAITING,
                ~exists().where(child.parent_id == Job.id, child.status.in_(ACTIVE_STATUSES)),
            )
        )
    ).all()
    parked_on_any = [
        job.id
        for job in (await session.scalars(select(Job).where(Job.status == JobStatus.WAITING))).all()
        if _wake_any_on(job) is not None and job.id not in set(orphaned)
    ]
    for parent_id in [*orphaned, *parked_on_any]:
        parent = await wake_if_done(session, parent_id)
        if parent is not None:
            report.woken.append(parent)

    pending = (
        await session.scalars(
            select(Job).where(
                Job.end_pending.is_(True),
                Job.status.in_(TERMINAL_STATUSES),
                Job.updated_at < now - requeue_after,
            )
        )
    ).all()
    for job in pending:
        if await mark_end_applied(session, job):
            continue  # this process knows the binding: mirrored just now
        await session.execute(update(Job).where(Job.id == job.id).values(updated_at=now))
        report.renotified.append(job)
    return report


async def _enforce_deadlines(
    session: AsyncSession, dispatcher: Dispatcher | None, now: datetime, report: ReapReport
) -> None:
    """Jobs still unfinished past their deadline: fail the queued and waiting ones (their
    children canceled first, lock order), ask the running ones to stop.
    """
    overdue = (
        await session.scalars(
            select(Job).where(Job.deadline_at < now, Job.status.in_(ACTIVE_STATUSES))
        )
    ).all()
    for job in overdue:
        passed = f"its deadline passed at {job.deadline_at:%Y-%m-%dT%H:%M:%SZ}"
        if job.status == JobStatus.RUNNING:
            if not job.cancel_requested:
                await session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == JobStatus.RUNNING)
                    .values(cancel_requested=True, message=f"stopping: {passed}", updated_at=now)
                )
            continue
        await cancel_children(session, dispatcher, job.id)
        stmt = (
            update(Job)
            .where(Job.id == job.id, Job.status == job.status)
            .values(
                status=JobStatus.FAILED,
                finished_at=now,
                updated_at=now,
                error=f"{passed} while it was {job.status}; its child jobs were canceled",
                message="failed: deadline passed",
            )
            .returning(Job.id)
        )
        if (await session.execute(stmt)).scalar_one_or_none() is not None:
            reaped = await get_job(session, job.id)
            report.failed.append(reaped)
            await after_end(session, dispatcher, reaped, report.woken)


async def mark_end_applied(session: AsyncSession, job: Job) -> bool:
    """Mirror an ended job on its resource through the binding this process knows, and clear
    ``end_pending``. ``False`` (nothing changed) when this process knows no binding for it.
    """
    if not await apply_job_status(session, job):
        return False
    if job.end_pending:
        await session.execute(update(Job).where(Job.id == job.id).values(end_pending=False))
        job.end_pending = False
    return True


def publish_all(session: AsyncSession, dispatcher: Dispatcher, report: ReapReport) -> None:
    """After commit: publish re-queued, re-published and woken jobs, and send the end
    notifications of ``renotified`` ones.
    """
    seen: set[uuid.UUID] = set()
    for job in [*report.requeued, *report.republished, *report.woken]:
        if job.id not in seen:
            seen.add(job.id)
            enqueue_after_commit(session, dispatcher, job)
    for job in report.renotified:
        notify_ended_after_commit(session, dispatcher, job)


async def count_by_status(session: AsyncSession) -> dict[tuple[str, str], int]:
    """``{(kind, status): n}`` for queued, running and waiting jobs (for gauges)."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count())
        .where(Job.status.in_(ACTIVE_STATUSES))
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
