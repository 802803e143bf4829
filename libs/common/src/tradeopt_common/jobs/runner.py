"""The worker side of a job: claim, heartbeat, progress, cooperative cancel, finish.

A task is a plain function of a :class:`JobContext`, registered with :func:`job_task`::

    @job_task(celery_app, TaskName.DATA_INGEST_BARS)
    def ingest_bars(ctx: JobContext) -> dict | None:
        ctx.progress(0.5, "parsing")      # raises JobCanceled when a cancel was requested
        return {"rows": 8222}             # stored as the job's result

The Celery message holds only the job id. A duplicate delivery finds the job not ``queued`` and
does nothing, so every job runs to completion at most once.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.errors import AppError
from tradeopt_common.jobs import events
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.runtime import JobRuntime, get_runtime
from tradeopt_common.logging import bind_context, get_logger, unbind_context
from tradeopt_common.observability import metrics

if TYPE_CHECKING:
    from celery import Celery

    from tradeopt_common.storage import ArtifactStore

log = get_logger(__name__)
T = TypeVar("T")

#: Called in the same transaction that ends the job, e.g. to mark the owning resource failed.
EndHook = Callable[[AsyncSession, Job, JobStatus], Awaitable[None]]


JobFunction = Callable[["JobContext"], dict[str, Any] | None]

#: Job functions and end hooks by job kind, filled by :func:`job_task` where the kind's tasks
#: module is imported (the owning worker, or an in-process pipeline).
JOB_FUNCTIONS: dict[str, JobFunction] = {}
END_HOOKS: dict[str, EndHook] = {}


class JobCanceled(Exception):
    """Raised inside job code when a cancel was requested; the job ends ``canceled``."""


class JobLost(Exception):
    """Raised inside job code when this worker no longer owns the job (the reaper gave it away)."""


def worker_identity() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobContext:
    """What job code gets: the job snapshot, collaborators, progress and cancel checks."""

    job: Job
    worker: str
    runtime: JobRuntime
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
    on_end: EndHook | None = None,
) -> JobStatus | None:
    """Claim and run one job; the whole worker-side protocol. Returns the final status, or
    ``None`` if the job was not claimable (a duplicate delivery, or already finished).
    """
    rt = runtime or get_runtime()
    worker = worker_identity()
    jid = uuid.UUID(job_id)
    job = rt.run(_claim(rt, jid, worker))
    if job is None:
        log.info("job.skipped", job_id=job_id, reason="not queued (duplicate or finished)")
        return None
    bind_context(job_id=job_id, job_kind=job.kind)
    metrics.JOBS_STARTED.labels(job.kind).inc()
    log.info("job.started", attempt=job.attempts, max_attempts=job.max_attempts, worker=worker)
    ctx = JobContext(job=job, worker=worker, runtime=rt)
    publish(rt, job_id, status=JobStatus.RUNNING)
    heartbeat = _Heartbeat(ctx, rt.settings.job_heartbeat_seconds)
    heartbeat.start()
    started = time.monotonic()
    status, error, result = JobStatus.FAILED, None, None
    try:
        result = fn(ctx)
        ctx.check()
        status = JobStatus.SUCCEEDED
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
    except BaseException as exc:  # SystemExit, Ctrl+C: hand the job back, then exit
        _release(ctx, f"worker {worker} shut down ({type(exc).__name__})")
        raise
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
        unbind_context("job_id", "job_kind")

    async def _end(session: AsyncSession) -> bool:
        ended = await jobs.finish(session, jid, worker, status, error=error, result=result)
        if ended and on_end is not None:
            await on_end(session, await jobs.get_job(session, jid), status)
        return ended

    ended = ctx.db(_end)
    elapsed = time.monotonic() - started
    if not ended:
        log.warning("job.lost", job_id=job_id, worker=worker, wanted=status)
        return None
    metrics.JOBS_FINISHED.labels(job.kind, status).inc()
    metrics.JOB_DURATION.labels(job.kind, status).observe(elapsed)
    publish(rt, job_id, status=status)
    log.info("job.finished", job_id=job_id, status=status, seconds=round(elapsed, 3), error=error)
    return status


def _release(ctx: JobContext, reason: str) -> None:
    try:
        released = ctx.db(lambda s: jobs.release(s, ctx.job_id, ctx.worker, reason))
        log.warning("job.released", job_id=str(ctx.job_id), reason=reason, released=released)
    except Exception as exc:  # the reaper recovers it anyway
        log.warning("job.release_failed", job_id=str(ctx.job_id), error=str(exc))


async def _claim(rt: JobRuntime, job_id: uuid.UUID, worker: str) -> Job | None:
    async with rt.db.unit_of_work() as session:
        return await jobs.claim(session, job_id, worker)


def job_task(
    app: Celery, name: str, *, on_end: EndHook | None = None, **task_options: Any
) -> Callable[[Callable[[JobContext], dict[str, Any] | None]], Any]:
    """Register ``fn(ctx)`` as Celery task ``name`` taking only ``job_id``."""
    if on_end is not None:
        END_HOOKS[name] = on_end

    def decorator(fn: Callable[[JobContext], dict[str, Any] | None]) -> Any:
        JOB_FUNCTIONS[name] = fn

        def task(job_id: str) -> str | None:
            status = execute_job(job_id, fn, on_end=on_end)
            return status.value if status else None

        task.__name__ = fn.__name__
        task.__doc__ = fn.__doc__
        return app.task(name=name, **task_options)(task)

    return decorator


def run_end_hook(job_id: str, runtime: JobRuntime | None = None) -> bool:
    """Run the end hook of a job that ended outside its worker. Returns whether one ran."""
    rt = runtime or get_runtime()

    async def _go() -> bool:
        async with rt.db.unit_of_work() as session:
            job = await session.get(Job, uuid.UUID(job_id))
            hook = END_HOOKS.get(job.kind) if job is not None else None
            if job is None or hook is None or not job.is_terminal:
                return False
            await hook(session, job, JobStatus(job.status))
            return True

    return rt.run(_go())


class InlineDispatcher:
    """Runs each job in this process as soon as it is published (embedded mode: the demo and
    ``tradeopt pipeline run``), through exactly the same claim/heartbeat/finish protocol.
    """

    def __init__(self, runtime: JobRuntime | None = None) -> None:
        self.runtime = runtime

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        """Run the job (or its end hook) now, in the calling thread."""
        from tradeopt_common.jobs.names import job_ended_task

        if task_name == job_ended_task(queue):
            run_end_hook(job_id, self.runtime)
            return
        fn = JOB_FUNCTIONS.get(task_name)
        if fn is None:
            raise LookupError(f"no job function registered for {task_name!r}; import its tasks")
        execute_job(job_id, fn, runtime=self.runtime, on_end=END_HOOKS.get(task_name))
