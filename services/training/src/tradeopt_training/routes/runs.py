"""``/api/v1/runs``: training runs (jobs on the ``training`` queue)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.web.deps import (
    IdempotencyDep,
    SessionDep,
    StateDep,
    StoreDep,
    WritePrincipal,
)
from tradeopt_common.web.idempotency import accepted_route, transition_route
from tradeopt_common.web.job_events import JobEventsDep
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute, uncached
from tradeopt_training import service, tensorboard
from tradeopt_training.checkpoints import Checkpoint, checkpoint_prefix
from tradeopt_training.deps import CurrentRun, TrainingSettingsDep
from tradeopt_training.models import RunStatus
from tradeopt_training.schemas import Algorithm, CheckpointRead, RunCreate, RunRead

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=CachedReadRoute)


@router.post("", **accepted_route(RunRead))
async def create_run(
    body: RunCreate,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: TrainingSettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Start a training run: 202 with the run ``queued`` and a ``Location``; the worker trains
    with progress, checkpoints, periodic validation (best model kept) and registers a model.

    Accepts ``Idempotency-Key``.
    """
    create = partial(
        service.create_run,
        session,
        store,
        state.dispatcher,
        body,
        torch_threads=settings.torch_threads,
        max_timesteps=settings.training_max_timesteps,
        default_checkpoint_every=settings.default_checkpoint_every(
            body.total_timesteps, body.n_envs
        ),
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
    )
    return await idempotency.accept(create, RunRead, router.prefix)


class RunFilters(BaseModel):
    """Runs, newest first; filter by status, dataset, algorithm or study."""

    status: RunStatus | None = None
    dataset_id: uuid.UUID | None = None
    algorithm: Algorithm | None = None
    study_id: uuid.UUID | None = None


add_list_route(router, "list_runs", service.list_runs, RunRead, RunFilters)


@router.get("/{run_id}", response_model=RunRead, responses=problem_responses(401, 403, 404, 422))
async def get_run(run: CurrentRun) -> RunRead:
    """One run: status, progress (fraction, timesteps, steps/s, ETA, recent reward), metrics,
    the registered model.
    """
    return RunRead.model_validate(run)


@router.post("/{run_id}/cancel", **transition_route(RunRead))
async def cancel_run(
    run_id: uuid.UUID, session: SessionDep, state: StateDep, _: WritePrincipal
) -> RunRead:
    """Cancel a queued or running run (the worker stops at its next step); 409 once finished."""
    return RunRead.model_validate(await service.cancel_run(session, state.dispatcher, run_id))


@router.delete("/{run_id}", status_code=204, responses=problem_responses(401, 403, 404, 409, 422))
async def delete_run(
    run_id: uuid.UUID, session: SessionDep, store: StoreDep, _: WritePrincipal
) -> Response:
    """Delete a finished run with its checkpoints and event files; 409 while it is queued or
    running (cancel it first) or while its model exists (delete the model first).
    """
    await service.delete_run(session, store, run_id)
    return Response(status_code=204)


@router.get(
    "/{run_id}/events",
    response_class=EventSourceResponse,
    responses=problem_responses(401, 403, 404, 422),
)
async def run_events(run: CurrentRun, events: JobEventsDep) -> EventSourceResponse:
    """Server-Sent Events of the run's job (progress messages, then the terminal state)."""
    return events(run.job_id)


def _archive_route(members: str, *problems: int) -> dict[str, Any]:
    """``router.get`` arguments of a route that streams a ``.tar.gz`` of ``members``."""
    return {
        "response_class": StreamingResponse,
        "responses": {
            200: {"content": {"application/gzip": {}}, "description": f"a tar.gz of {members}"},
            **problem_responses(*problems),
        },
    }


def _attachment(body: Iterator[bytes], filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{run_id}/tensorboard",
    **_archive_route("the run's event files as `<run_id>/<file>`", 401, 403, 404, 409, 422),
)
async def download_run_tensorboard(run: CurrentRun, store: StoreDep) -> StreamingResponse:
    """The run's TensorBoard event files as a streamed ``.tar.gz`` (members ``<run_id>/…``:
    ``tar xzf`` it and run ``tensorboard --logdir .``). 409 when the run has none yet: they are
    uploaded when training ends.
    """
    objects = await asyncio.to_thread(service.run_event_files, store, run)
    return _attachment(
        tensorboard.iter_archive(store, run.id, objects), f"run-{run.id}-tensorboard.tar.gz"
    )


@router.get(
    "/{run_id}/checkpoints",
    response_model=list[CheckpointRead],
    responses=problem_responses(401, 403, 404, 422),
)
@uncached  # the bucket's listing grows while the run trains, unannounced
async def list_run_checkpoints(run: CurrentRun, store: StoreDep) -> list[CheckpointRead]:
    """The run's complete checkpoints, ascending by step: when each landed, its size and files,
    and where to download it. Empty before the first one; training keeps the newest two.
    """
    found = await asyncio.to_thread(service.run_checkpoints, store, run)
    return [_checkpoint_read(run.id, c) for c in found]


def _checkpoint_read(run_id: uuid.UUID, checkpoint: Checkpoint) -> CheckpointRead:
    prefix = checkpoint_prefix(run_id, checkpoint.step)
    return CheckpointRead(
        step=checkpoint.step,
        created_at=checkpoint.completed_at,
        size_bytes=checkpoint.size,
        files=[f.key.removeprefix(prefix) for f in checkpoint.files],
        download=f"{router.prefix}/{run_id}/checkpoints/{checkpoint.step}",
    )


@router.get(
    "/{run_id}/checkpoints/{step}",
    **_archive_route("the checkpoint's files as `<run_id>-<step>/<file>`", 401, 403, 404, 422),
)
async def download_run_checkpoint(
    run: CurrentRun,
    store: StoreDep,
    step: Annotated[int, Path(ge=0, le=10**12 - 1, description="the checkpoint's timesteps")],
) -> StreamingResponse:
    """One complete checkpoint's files (the SB3 model zip, its normalisation statistics, the
    job's state) as a streamed ``.tar.gz``; 404 when the run has none at that step.
    """
    checkpoint = await asyncio.to_thread(service.run_checkpoint, store, run, step)
    root = f"{run.id}-{step}"
    body = tensorboard.iter_tar_gz(
        store, checkpoint.files, strip=checkpoint_prefix(run.id, step), root=root
    )
    return _attachment(body, f"run-{root}-checkpoint.tar.gz")
