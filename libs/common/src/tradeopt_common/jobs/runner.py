"""The worker side of a job: claim, heartbeat, progress, cooperative cancel, finish.

A job body is a plain function of a :class:`JobContext`, registered by kind with
:func:`job_function` in its service's ``jobs`` module (no Celery there, so in-process runs such
as the demo import it too); the service's ``tasks`` module turns the registered bodies into Celery
tasks with :func:`celery_tasks`::

    @job_function(TaskName.DATA_INGEST_BARS)
    def ingest_bars(ctx: JobContext) -> dict | None:
        ctx.progress(0.5, "parsing")      # raises JobCanceled when a cancel was requested
        return {"rows": 8222}             # stored as the job's result

The Celery message holds only the job id. A duplicate delivery finds the job not ``queued`` and
does nothing, so every job runs to completion at most once.

Parent jobs park instead of sleeping in a worker. The job function is written as idempotent steps
over a JSON checkpoint (``ctx.state``); it starts children and calls ``ctx.wait_for``, which
records the checkpoint and ends this run of the function (``running → waiting``, no worker slot
held). When the last child ends, the job is re-enqueued and the function runs again with the
checkpoint::

    @job_function("evaluation.sweep")
    def sweep(ctx: JobContext) -> dict | None:
        runs = ctx.state.get("runs")
        if runs is None:                                   # step 1 (idempotent: keyed children)
            runs = [ctx.start_child("training.train_run", key=f"fold-{i}", params={...}).hex
                    for i in range(4)]
            ctx.wait_for(runs, state={"runs": runs}, progress=(0.05, 0.8))   # parks
        children = ctx.children()                          # step 2: every child has ended
        return {"ok": sum(c.status == "succeeded" for c in children)}

``ctx.wait_for(ids, wake="any")`` wakes the job as soon as one of ``ids`` has ended instead of
all of them (a pool of children kept ``n`` wide: the tuning study's ``parallelism``); the woken
function starts the next children and parks again on those still running.

Children of another service's resource are created through that service's API (which returns
their ``job_id``) and adopted by ``wait_for``. If every child already ended when the job parks,
it does not park: the function is called again at once in the same worker. ``InlineDispatcher``
runs children (and the woken parent) in-process, so the same code works in the embedded mode.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.errors import AppError
from tradeopt_common.jobs import events
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.resources import binding_for
from tradeopt_common.jobs.runtime import JobRuntime, get_runtime
from tradeopt_common.logging import bind_context, get_logger, unbind_context
from tradeopt_common.observability import metrics

if TYPE_CHECKING:
    from celery import Celery

    from tradeopt_common.storage import ArtifactStore

log = get_logger(__name__)
T = TypeVar("T")

JobFunction = Callable[["JobContext"], dict[str, Any] | None]

#: Job functions by job kind, filled by :func:`job_function` where the kind's jobs module is
#: imported (the owning worker, or an in-process pipeline). Resources follow their jobs through
#: the bindings in :mod:`tradeopt_common.jobs.resources`, not through per-task hooks.
JOB_FUNCTIONS: dict[str, JobFunction] = {}


class JobCanceled(Exception):
    """Raised inside job code when a cancel was requested; the job ends ``canceled``."""


class JobLost(Exception):
    """Raised inside job code when this worker no longer owns the job (the reaper gave it away)."""


class JobParked(Exception):
    """Raised by :meth:`JobContext.wait_for`: the runner parks the job on its children."""

    def __init__(
        self,
        children: list[uuid.UUID],
        state: dict[str, Any],
        progress: tuple[float | None, float | None],
        message: str | None,
        wake: jobs.WakeOn = "all",
        reports_seen: dict[uuid.UUID, int] | None = None,
    ) -> None:
        super().__init__(f"waiting for {wake} of {len(children)} child jobs")
        self.children, self.state, self.progress, self.message, self.wake = (
            children,
            state,
            progress,
            message,
            wake,
        )
        self.reports_seen = reports_seen


def worker_identity() -> str:
    """``host:pid:thread/claim`` of one claim: the threads of a worker process (and two claims of
    the same job by one thread) never share an owner, so an executor that lost its job (reaped
    and claimed again, maybe by a sibling thread) can no longer heartbeat, park or finish it.
    """
    claim = uuid.uuid4().hex[:8]
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100_000}/{claim}"


def worker_pid(identity: str) -> int:
    """The process id in a :func:`worker_identity` (``host:pid:thread/claim``)."""
    return int(identity.split(":")[1])


@dataclass
class JobContext:
    """What job code gets: the job snapshot, collaborators, progress and cancel checks."""

    job: Job
    worker: str
    runtime: JobRuntime
    dispatcher: Dispatcher | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    lost_event: threading.Event = field(default_factory=threading.Event)
    min_progress_interval: float = 0.5
    _last_progress: float = 0.0

    @property
    def job_id(self) -> uuid.UUID:
        """The job's id."""
        return self.job.id

    @property
    def params(self) -> dict[str, Any]:
        """The job's parameters, as stored when it was created."""
        return self.job.params or {}

    @property
    def store(self) -> ArtifactStore:
        """The artifact store."""
        return self.runtime.store

    @property
    def state(self) -> dict[str, Any]:
        """The checkpoint recorded by :meth:`wait_for` or :meth:`save_state` (``{}`` at first)."""
        return {k: v for k, v in (self.job.state or {}).items() if k != jobs.WAIT_KEY}

    @property
    def wakeups(self) -> int:
        """How many times this job was woken from ``waiting``."""
        return self.job.wakeups

    def save_state(self, state: dict[str, Any]) -> None:
        """Record the checkpoint now (e.g. after a step whose result must survive a crash)."""
        self.job.state = dict(state)
        result = self.db(lambda s: jobs.touch(s, self.job_id, self.worker, state=dict(state)))
        if not result.owned:
            self.lost_event.set()
        self.check()

    def start_child(
        self,
        kind: str,
        *,
        key: str,
        params: dict[str, Any] | None = None,
        max_attempts: int | None = None,
    ) -> uuid.UUID:
        """Create (once per ``key``: the child's id derives from this job's id and ``key``) a
        child job of ``kind`` on its own queue, published after commit. Returns its id.
        """
        if self.dispatcher is None:
            raise RuntimeError("this job runs without a dispatcher; it cannot start children")
        child_id = uuid.uuid5(self.job_id, key)
        dispatcher = self.dispatcher

        async def _create(session: AsyncSession) -> uuid.UUID:
            if await session.get(Job, child_id) is None:
                await jobs.create_job(
                    session,
                    dispatcher,
                    kind,
                    params=params,
                    max_attempts=max_attempts or self.job.max_attempts,
                    created_by=self.job.created_by,
                    job_id=child_id,
                    parent_id=self.job_id,
                )
            return child_id

        return self.db(_create)

    def children(self) -> list[jobs.ChildJob]:
        """This job's children (adopted or started) with their status, progress and result."""
        return self.db(lambda s: jobs.children(s, self.job_id))

    def wait_for(
        self,
        child_job_ids: Iterable[uuid.UUID | str],
        *,
        state: dict[str, Any] | None = None,
        progress: tuple[float, float] | None = None,
        message: str | None = None,
        wake: jobs.WakeOn = "all",
        reports_seen: dict[uuid.UUID, int] | None = None,
    ) -> NoReturn:
        """Park until every child has ended (``wake="any"``: until any of ``child_job_ids`` has
        ended, or — with ``reports_seen={child: n}`` — until one of them holds more than ``n``
        intermediate reports, see :meth:`report`), then run the job function again with ``state``.

        ``child_job_ids`` are adopted as children if they have no parent yet (jobs created over
        another service's API). ``progress=(a, b)``: the job shows ``a`` when it parks and moves
        towards ``b`` as its children end. Never returns (raises :class:`JobParked`).
        """
        self.check()
        ids = [c if isinstance(c, uuid.UUID) else uuid.UUID(str(c)) for c in child_job_ids]
        span = progress or (None, None)
        raise JobParked(
            ids, dict(state if state is not None else self.state), span, message, wake, reports_seen
        )

    def report(self, step: int, **values: Any) -> None:
        """Record the intermediate report ``{"step": step, **values}`` of this job (durably, one
        per step) and wake a parent parked on this job's reports; also a heartbeat and a cancel
        check. Reports are what a parent reads to act on a running child (a study's pruner).
        """
        dispatcher = self.dispatcher
        result = self.db(
            lambda s: jobs.report(s, dispatcher, self.job_id, self.worker, step, dict(values))
        )
        if not result.owned:
            self.lost_event.set()
        elif result.cancel_requested:
            self.cancel_event.set()
        self.check()

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine (e.g. a service call) on the runtime loop."""
        return self.runtime.run(coro)

    def db(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``fn(session)`` in its own unit of work and return its result."""

        async def _go() -> T:
            async with self.runtime.db.unit_of_work() as session:
                return await fn(session)

        return self.run(_go())

    def check(self) -> None:
        """Raise :class:`JobCanceled` / :class:`JobLost` if the job should stop now."""
        if self.lost_event.is_set():
            raise JobLost(f"job {self.job_id} is no longer owned by {self.worker}")
        if self.cancel_event.is_set():
            raise JobCanceled(f"job {self.job_id} was canceled")

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (0..1) and a message; also a heartbeat and a cancel check.

        Calls closer together than ``min_progress_interval`` seconds only check for cancel.
        """
        now = time.monotonic()
        if force or now - self._last_progress >= self.min_progress_interval:
            self._last_progress = now
            self._touch(progress=fraction, message=message)
        self.check()

    def _touch(self, progress: float | None = None, message: str | None = None) -> None:
        result = self.db(
            lambda s: jobs.touch(s, self.job_id, self.worker, progress=progress, message=message)
        )
        if not result.owned:
            self.lost_event.set()
        elif result.cancel_requested:
            self.cancel_event.set()
        publish(self.runtime, str(self.job_id), progress=progress, message=message)


def publish(runtime: JobRuntime, job_id: str, **fields: Any) -> None:
    """Wake live subscribers of a job (best effort)."""
    try:
        runtime.redis.publish(events.channel(job_id), events.encode(job_id, **fields))
    except Exception as exc:
        log.debug("job.publish_failed", job_id=job_id, error=str(exc))


class _Heartbeat(threading.Thread):
    """Touches the job every ``interval`` seconds while the job code runs."""

    def __init__(self, ctx: JobContext, interval: float) -> None:
        super().__init__(name=f"heartbeat-{ctx.job_id}", daemon=True)
        self.ctx, self.interval, self.stopped = ctx, interval, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.ctx._touch()
            except Exception as exc:
                log.warning("job.heartbeat_failed", job_id=str(self.ctx.job_id), error=str(exc))
            if self.ctx.lost_event.is_set():
                return


def execute_job(
    job_id: str,
    fn: Callable[[JobContext], dict[str, Any] | None],
    *,
    runtime: JobRuntime | None = None,
    dispatcher: Dispatcher | None = None,
) -> JobStatus | None:
    """Claim and run one job; the whole worker-side protocol. Returns the final status
    (``waiting`` when it parked), or ``None`` if the job was not claimable (a duplicate delivery,
    already finished, or waiting) or this worker lost it.

    ``dispatcher`` publishes what the job's transitions cause: children it starts, a parent it
    wakes, end notifications of children it cancels.
    """
    rt = runtime or get_runtime()
    worker = worker_identity()
    jid = uuid.UUID(job_id)
    job = rt.run(_claim(rt, jid, worker))
    if job is None:
        log.info("job.skipped", job_id=job_id, reason="not queued (duplicate, waiting or ended)")
        return None
    bind_context(job_id=job_id, job_kind=job.kind)
    metrics.JOBS_STARTED.labels(job.kind).inc()
    log.info(
        "job.started",
        attempt=job.attempts,
        max_attempts=job.max_attempts,
        wakeups=job.wakeups,
        worker=worker,
    )
    ctx = JobContext(job=job, worker=worker, runtime=rt, dispatcher=dispatcher)
    publish(rt, job_id, status=JobStatus.RUNNING)
    heartbeat = _Heartbeat(ctx, rt.settings.job_heartbeat_seconds)
    heartbeat.start()
    started = time.monotonic()
    status, error, result = JobStatus.FAILED, None, None
    try:
        while True:
            try:
                result = fn(ctx)
                ctx.check()
                status = JobStatus.SUCCEEDED
            except JobParked as parked:
                outcome = ctx.db(lambda s, p=parked: _park(s, ctx, p))  # type: ignore[misc]
                if outcome is jobs.ParkOutcome.RESUME:
                    ctx.job = ctx.db(lambda s: jobs.get_job(s, jid))
                    log.info("job.resumed", reason="every child had already ended")
                    continue
                if outcome is jobs.ParkOutcome.LOST:
                    log.warning("job.lost", worker=worker)
                    return None
                if outcome is jobs.ParkOutcome.PARKED:
                    log.info("job.parked", children=len(parked.children))
                    publish(rt, job_id, status=JobStatus.WAITING)
                    return JobStatus.WAITING
                status = JobStatus.CANCELED
            except JobCanceled:
                status = JobStatus.CANCELED
            except JobLost:
                log.warning("job.lost", worker=worker)
                return None
            except AppError as exc:  # a clear, client-facing failure: keep its problem details
                error = exc.detail
                result = {"problem": exc.to_problem()}
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.error("job.crashed", error=error, traceback=traceback.format_exc())
            break
    except BaseException as exc:  # SystemExit, Ctrl+C: hand the job back, then exit
        _release(ctx, f"worker {worker} shut down ({type(exc).__name__})")
        raise
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
        unbind_context("job_id", "job_kind")

    async def _end(session: AsyncSession) -> bool:
        ended = await jobs.end(session, dispatcher, jid, worker, status, error=error, result=result)
        if ended is None:
            raise _NotOwner
        return True

    try:
        ctx.db(_end)
    except _NotOwner:
        log.warning("job.lost", job_id=job_id, worker=worker, wanted=status)
        return None
    elapsed = time.monotonic() - started
    metrics.JOBS_FINISHED.labels(job.kind, status).inc()
    metrics.JOB_DURATION.labels(job.kind, status).observe(elapsed)
    publish(rt, job_id, status=status)
    log.info("job.finished", job_id=job_id, status=status, seconds=round(elapsed, 3), error=error)
    return status


class _NotOwner(Exception):
    """Rolls back an end transaction whose job another worker owns now."""


async def _park(session: AsyncSession, ctx: JobContext, parked: JobParked) -> jobs.ParkOutcome:
    lo, hi = parked.progress
    return await jobs.park(
        session,
        ctx.job_id,
        ctx.worker,
        children=parked.children,
        state=parked.state,
        progress=lo,
        progress_to=hi,
        message=parked.message,
        wake=parked.wake,
        reports_seen=parked.reports_seen,
    )


def _release(ctx: JobContext, reason: str) -> None:
    try:
        released = ctx.db(lambda s: jobs.release(s, ctx.job_id, ctx.worker, reason, ctx.dispatcher))
        log.warning("job.released", job_id=str(ctx.job_id), reason=reason, released=released)
    except Exception as exc:  # the reaper recovers it anyway
        log.warning("job.release_failed", job_id=str(ctx.job_id), error=str(exc))


async def _claim(rt: JobRuntime, job_id: uuid.UUID, worker: str) -> Job | None:
    async with rt.db.unit_of_work() as session:
        return await jobs.claim(session, job_id, worker)


def job_function(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn(ctx)`` as the body of job kind ``name`` (a task name). No Celery: the same
    registry serves workers (:func:`celery_tasks`) and in-process runs (:class:`InlineDispatcher`).
    """

    def decorator(fn: JobFunction) -> JobFunction:
        if JOB_FUNCTIONS.get(name, fn) is not fn:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_FUNCTIONS[name] = fn
        return fn

    return decorator


def celery_task(app: Celery, name: str, fn: JobFunction, **task_options: Any) -> Any:
    """A Celery task ``name`` taking only ``job_id`` that runs ``fn`` through the whole worker
    protocol; the job's resource (if its kind has a
    :class:`~tradeopt_common.jobs.resources.ResourceBinding`) follows it.
    """

    def task(job_id: str) -> str | None:
        from tradeopt_common.jobs.dispatch import CeleryDispatcher

        status = execute_job(job_id, fn, dispatcher=CeleryDispatcher(app))
        return status.value if status else None

    task.__name__ = fn.__name__
    task.__doc__ = fn.__doc__
    return app.task(name=name, **task_options)(task)


def celery_tasks(app: Celery, prefix: str, **task_options: Any) -> dict[str, Any]:
    """Celery tasks for every registered job body whose kind starts with ``prefix.`` (a
    service's queue), by kind. Fails when the service registered none (an import was missed).
    """
    kinds = sorted(k for k in JOB_FUNCTIONS if k.startswith(f"{prefix}."))
    if not kinds:
        raise LookupError(f"no job bodies registered for {prefix!r}: import its jobs module")
    return {k: celery_task(app, k, JOB_FUNCTIONS[k], **task_options) for k in kinds}


def job_task(app: Celery, name: str, **task_options: Any) -> Callable[[JobFunction], Any]:
    """Register ``fn(ctx)`` as job kind ``name`` and as its Celery task in one step (for small
    apps such as test fixtures; services separate the two: ``jobs`` and ``tasks`` modules).
    """

    def decorator(fn: JobFunction) -> Any:
        job_function(name)(fn)
        return celery_task(app, name, fn, **task_options)

    return decorator


def run_end_hook(job_id: str, runtime: JobRuntime | None = None) -> bool:
    """Mirror a job that ended outside its worker (reaper, cancel while queued or waiting) on
    its resource, through the binding this process knows. Returns whether one applied.
    """
    rt = runtime or get_runtime()

    async def _go() -> bool:
        async with rt.db.unit_of_work() as session:
            job = await session.get(Job, uuid.UUID(job_id))
            if job is None or not job.is_terminal or binding_for(job.kind) is None:
                return False
            return await jobs.mark_end_applied(session, job)

    return rt.run(_go())


class InlineDispatcher:
    """Runs each job in this process as soon as it is published (embedded mode: the demo and
    ``tradeopt pipeline run``), through exactly the same claim/heartbeat/finish protocol. Parked
    parents work too: children run inline when published, and the child that ends last
    publishes (so runs) the woken parent, which resumes from its checkpoint.

    ``functions`` replaces the registered body of some kinds for this dispatcher only, e.g. a
    body bound to in-process collaborators (``functools.partial(run_study, client=...)``: the
    tuning study's trials created through the training service's functions instead of its
    HTTP API); :meth:`override` adds one later (when the collaborator needs the dispatcher).
    """

    def __init__(
        self,
        runtime: JobRuntime | None = None,
        functions: dict[str, JobFunction] | None = None,
    ) -> None:
        self.runtime = runtime
        self.functions: dict[str, JobFunction] = dict(functions or {})

    def override(self, kind: str, fn: JobFunction) -> None:
        """Run ``fn`` instead of the registered body for jobs of ``kind`` sent here."""
        self.functions[kind] = fn

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        """Run the job (or its end notification) now, in the calling thread."""
        from tradeopt_common.jobs.names import job_ended_task

        if task_name == job_ended_task(queue):
            run_end_hook(job_id, self.runtime)
            return
        fn = self.functions.get(task_name) or JOB_FUNCTIONS.get(task_name)
        if fn is None:
            raise LookupError(f"no job body registered for {task_name!r}; import its jobs module")
        execute_job(job_id, fn, runtime=self.runtime, dispatcher=self)
