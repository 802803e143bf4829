"""``GET /api/v1/system/status``: the fleet at a glance (the dashboard's Overview).

Every service mounts this router (like ``/api/v1/jobs``); the gateway routes ``/api/v1/system``
to the data service (services.yaml), which answers for the whole fleet:

- **readiness** of every service: its own ``/readyz`` checks computed in process, the others'
  ``/readyz`` asked over HTTP (``TRADING_OPT_<SVC>_URL``, a short timeout; ``unreachable`` when
  a service does not answer);
- **queue depth**: Redis ``LLEN`` of each Celery queue (the broker is the Redis every service
  shares; kombu's priority sub-queues are counted too);
- **workers**: the Celery workers answering a broadcast ``active_queues`` within a second, and the
  queues each consumes. A worker busy with a long task still answers (the broadcast is served by
  its consumer thread), so a missing worker is a dead or unreachable one. The broadcast waits its
  whole timeout for answers, so each process reuses its last one for ``WORKERS_TTL_SECONDS`` and
  concurrent requests share one broadcast (a dashboard polling every few seconds costs one
  broadcast per period, and a request answers in milliseconds instead of over a second).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, Field

from tradeopt_common.jobs.names import Queue
from tradeopt_common.web.deps import ReadPrincipal, StateDep
from tradeopt_common.web.health import readiness
from tradeopt_common.web.problems import problem_responses

if TYPE_CHECKING:
    from tradeopt_common.web.state import AppState

router = APIRouter(prefix="/api/v1/system", tags=["system"])

#: The services of the fleet (one queue each, named after the service).
SERVICES: tuple[str, ...] = tuple(q.value for q in Queue if q is not Queue.MAINTENANCE)
#: Every queue a worker may consume.
QUEUES: tuple[str, ...] = tuple(q.value for q in Queue)
#: kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists ``<queue>\x06\x16<p>``.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
READY_TIMEOUT_SECONDS = 3.0
INSPECT_TIMEOUT_SECONDS = 1.0
#: How long a process reuses the workers that answered its last broadcast.
WORKERS_TTL_SECONDS = 5.0

ServiceState = Literal["ready", "degraded", "not ready", "unreachable"]


class ServiceStatus(BaseModel):
    """One service's readiness (its ``/readyz``)."""

    name: str
    status: ServiceState
    checks: dict[str, Any] = Field(
        default_factory=dict, description="the service's /readyz checks (database, redis, storage)"
    )
    ms: float | None = Field(None, description="time to answer /readyz")
    error: str | None = Field(None, description="why the service is unreachable")


class QueueStatus(BaseModel):
    """One Celery queue: messages waiting in Redis and the workers consuming it."""

    name: str
    depth: int | None = Field(description="messages waiting (null: Redis did not answer)")
    workers: list[str] = Field(description="workers consuming the queue (answered the broadcast)")


class WorkerStatus(BaseModel):
    """One Celery worker that answered the broadcast."""

    name: str
    queues: list[str]


class SystemStatus(BaseModel):
    """The fleet at a glance."""

    served_by: str
    checked_at: datetime
    services: list[ServiceStatus]
    queues: list[QueueStatus]
    workers: list[WorkerStatus]
    errors: dict[str, str] = Field(
        default_factory=dict, description="parts that could not be read (queues, workers)"
    )


@router.get(
    "/status",
    response_model=SystemStatus,
    summary="Readiness of every service, Celery queue depths and workers",
    responses=problem_responses(401, 403),
)
async def system_status(state: StateDep, _: ReadPrincipal) -> SystemStatus:
    """Every service's readiness, the depth of every queue and the workers consuming them
    (read scope). Parts that cannot be read are named in ``errors``; the answer is still 200.
    """
    services, depths, workers = await asyncio.gather(
        asyncio.gather(*(_service(state, name) for name in SERVICES)),
        _depths(state),
        _workers(state),
    )
    errors: dict[str, str] = {}
    depth_of, depth_error = depths
    worker_map, worker_error = workers
    if depth_error:
        errors["queues"] = depth_error
    if worker_error:
        errors["workers"] = worker_error
    return SystemStatus(
        served_by=state.service,
        checked_at=datetime.now(UTC),
        services=list(services),
        queues=[
            QueueStatus(
                name=q,
                depth=depth_of.get(q),
                workers=sorted(w for w, qs in worker_map.items() if q in qs),
            )
            for q in QUEUES
        ],
        workers=[WorkerStatus(name=w, queues=qs) for w, qs in sorted(worker_map.items())],
        errors=errors,
    )


async def _service(state: AppState, name: str) -> ServiceStatus:
    started = time.perf_counter()
    if name == state.service:
        body = await readiness(state)
        return ServiceStatus(
            name=name, status=body["status"], checks=body["checks"], ms=_ms(started)
        )
    url = f"{str(getattr(state.settings, f'{name}_url')).rstrip('/')}/readyz"
    try:
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_SECONDS) as client:
            resp = await client.get(url)
        body = resp.json()
        status = body.get("status")
        if status not in ("ready", "degraded", "not ready"):
            raise ValueError(f"unexpected /readyz answer {resp.status_code}")
        return ServiceStatus(
            name=name, status=status, checks=body.get("checks") or {}, ms=_ms(started)
        )
    except (httpx.HTTPError, ValueError) as exc:
        return ServiceStatus(
            name=name, status="unreachable", error=f"{type(exc).__name__}: {exc}"[:300]
        )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def _depths(state: AppState) -> tuple[dict[str, int], str | None]:
    try:
        async with state.redis.pipeline(transaction=False) as pipe:
            for q in QUEUES:
                pipe.llen(q)
                for p in PRIORITY_STEPS:
                    pipe.llen(f"{q}{PRIORITY_SEPARATOR}{p}")
            counts = await asyncio.wait_for(pipe.execute(), timeout=READY_TIMEOUT_SECONDS)
    except Exception as exc:  # Redis down or slow: report it, keep the rest
        return {}, f"{type(exc).__name__}: {exc}"[:300]
    per = 1 + len(PRIORITY_STEPS)
    return {q: int(sum(counts[i * per : (i + 1) * per])) for i, q in enumerate(QUEUES)}, None


WorkersAnswer = tuple[dict[str, list[str]], str | None]


class _LastBroadcast:
    """One Celery app's last broadcast answer and when it came, and the lock that lets one
    broadcast run at a time.
    """

    def __init__(self) -> None:
        self.at = -float("inf")
        self.answer: WorkersAnswer = ({}, None)
        self.lock = asyncio.Lock()

    def fresh(self) -> bool:
        return time.monotonic() - self.at < WORKERS_TTL_SECONDS


#: Per Celery app (weakly: an app that is gone takes its answer with it).
_last_broadcast: weakref.WeakKeyDictionary[Any, _LastBroadcast] = weakref.WeakKeyDictionary()


async def _workers(state: AppState) -> WorkersAnswer:
    """The workers that answered a broadcast in the last ``WORKERS_TTL_SECONDS`` (one
    broadcast at a time per process; concurrent callers wait for it and share its answer).
    """
    last = _last_broadcast.setdefault(state.celery, _LastBroadcast())
    if not last.fresh():
        async with last.lock:
            if not last.fresh():
                last.answer = await _broadcast(state)
                last.at = time.monotonic()
    return last.answer


async def _broadcast(state: AppState) -> WorkersAnswer:
    def inspect() -> dict[str, Any] | None:
        control = state.celery.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS)
        return control.active_queues()

    try:
        answers = await asyncio.wait_for(
            asyncio.to_thread(inspect), timeout=INSPECT_TIMEOUT_SECONDS + READY_TIMEOUT_SECONDS
        )
    except Exception as exc:  # broker down: report it, keep the rest
        return {}, f"{type(exc).__name__}: {exc}"[:300]
    return {
        worker: sorted({str(q.get("name")) for q in queues or [] if isinstance(q, dict)})
        for worker, queues in (answers or {}).items()
    }, None
