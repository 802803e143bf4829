"""``/api/v1/jobs``: every service mounts this router (job records are shared)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_common.errors import JobNotFound
from tradeopt_common.jobs import events
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.schemas import JobRead
from tradeopt_common.web.deps import ReadPrincipal, SessionDep, StateDep, WritePrincipal
from tradeopt_common.web.pagination import (
    CursorQuery,
    LimitQuery,
    PageRead,
    TotalQuery,
    page_read,
)
from tradeopt_common.web.problems import PROBLEM_JSON, problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], route_class=CachedReadRoute)
_PROBLEMS = problem_responses(401, 403, 404)

PollQuery = Annotated[
    float, Query(ge=0.5, le=30, description="seconds between database checks of the job (0.5..30)")
]
"""The ``poll`` query parameter of every job event stream."""


class JobRepository(RepositoryBase[Job]):
    """Queries over jobs."""

    model = Job


@router.get("", response_model=PageRead[JobRead], responses=_PROBLEMS)
async def list_jobs(
    session: SessionDep,
    _: ReadPrincipal,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    total: TotalQuery = False,
) -> PageRead[JobRead]:
    """Jobs, newest first, optionally filtered by status and kind (``total=true``: and counted)."""
    repo = JobRepository(session)
    stmt = select(Job)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    page = await repo.paginate(stmt, limit=limit, cursor=cursor, count=total)
    return page_read(page, JobRead, counted=total)


@router.get("/{job_id}", response_model=JobRead, responses=_PROBLEMS)
async def get_job(job_id: uuid.UUID, session: SessionDep, _: ReadPrincipal) -> JobRead:
    """One job."""
    return JobRead.model_validate(await jobs.get_job(session, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobRead,
    status_code=202,
    responses={**_PROBLEMS, 409: {"content": {PROBLEM_JSON: {}}, "description": "Finished"}},
)
async def cancel_job(
    job_id: uuid.UUID, session: SessionDep, state: StateDep, _: WritePrincipal
) -> JobRead:
    """Cancel a queued job at once, or ask a running one to stop; 409 when it already ended."""
    return JobRead.model_validate(await jobs.request_cancel(session, job_id, state.dispatcher))


@router.get("/{job_id}/events", responses=_PROBLEMS, response_class=EventSourceResponse)
async def job_events(
    job_id: uuid.UUID,
    request: Request,
    state: StateDep,
    _: ReadPrincipal,
    poll: PollQuery = 1.0,
) -> EventSourceResponse:
    """Server-Sent Events: a ``job`` event with the full job on every change, ending with the
    terminal state. Woken by Redis pub/sub; also polls the database (the source of truth).
    """
    async with state.db.unit_of_work() as session:
        if await session.get(Job, job_id) is None:
            raise JobNotFound(f"job {job_id} does not exist")
    return job_events_response(job_id, request, state, poll)


def job_events_response(
    job_id: uuid.UUID, request: Request, state: StateDep, poll: float
) -> EventSourceResponse:
    """The SSE response of a job's events (with keep-alive pings), for any resource's stream."""
    return EventSourceResponse(stream_job_events(job_id, request, state, poll), ping=15)


async def stream_job_events(
    job_id: uuid.UUID, request: Request, state: StateDep, poll: float
) -> AsyncIterator[dict[str, str]]:
    """SSE events of one job (``job`` events with the full record) until it ends; shared by the
    resources whose progress is a job's (runs, studies, evaluations, paper sessions).
    """
    subscription = state.redis.pubsub()
    pubsub: PubSub | None = subscription
    try:
        try:
            await subscription.subscribe(events.channel(str(job_id)))
        except Exception:
            pubsub = None  # Redis unreachable: poll the database only
        last: str | None = None
        while not await request.is_disconnected():
            async with state.db.unit_of_work() as session:
                job = await session.get(Job, job_id)
                snapshot = JobRead.model_validate(job).model_dump_json() if job else None
            if snapshot is None:
                return
            if snapshot != last:
                last = snapshot
                yield {"event": "job", "data": snapshot}
            if json.loads(snapshot)["status"] in {s.value for s in jobs.TERMINAL_STATUSES}:
                return
            await _wait(pubsub, poll)
    finally:
        await subscription.aclose()


async def _wait(pubsub: object | None, timeout: float) -> None:
    if pubsub is None:
        await asyncio.sleep(timeout)
        return
    try:
        await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)  # type: ignore[attr-defined]
    except Exception:
        await asyncio.sleep(timeout)
