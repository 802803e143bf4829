"""``/api/v1/walk-forward-optimizations``: one study per walk-forward fold, the best parameters
frozen and tested out of sample, stitched (parked parent jobs on the ``tuning`` queue).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse
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
from tradeopt_tuning import service_wfo
from tradeopt_tuning.deps import CurrentOptimization, TuningSettingsDep
from tradeopt_tuning.models import StudyStatus
from tradeopt_tuning.schemas import Algorithm
from tradeopt_tuning.schemas_wfo import WalkForwardCreate, WalkForwardRead

router = APIRouter(prefix="/api/v1/walk-forward-optimizations", tags=["walk-forward-optimizations"])


@router.post("", **accepted_route(WalkForwardRead))
async def create_optimization(
    body: WalkForwardCreate,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: TuningSettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Start a walk-forward optimisation: 202 with it ``queued`` (its folds planned) and a
    ``Location``. Per fold, a study on the fold's in-sample window; the best trial's parameters
    frozen (its model, trained on exactly that window) and tested on the following
    out-of-sample window; the out-of-sample windows stitched and compared with buy-and-hold.
    Folds the dataset cannot hold are a 422 naming ``folds``.

    Accepts ``Idempotency-Key``.
    """
    create = partial(
        service_wfo.create_optimization,
        session,
        store,
        state.dispatcher,
        body,
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
        max_trials=settings.tuning_max_trials,
        max_parallelism=settings.tuning_max_parallelism,
    )
    return await idempotency.accept(create, WalkForwardRead, router.prefix)


class OptimizationFilters(BaseModel):
    """Walk-forward optimisations, newest first; filter by status, dataset or algorithm."""

    status: StudyStatus | None = None
    dataset_id: uuid.UUID | None = None
    algorithm: Algorithm | None = None


add_list_route(
    router,
    "list_walk_forward_optimizations",
    service_wfo.list_optimizations,
    WalkForwardRead,
    OptimizationFilters,
)


@router.get(
    "/{optimization_id}",
    response_model=WalkForwardRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_optimization(optimization: CurrentOptimization) -> WalkForwardRead:
    """One walk-forward optimisation: per fold its windows, study, frozen parameters,
    in-sample objective and out-of-sample metrics; the stitched out-of-sample metrics and
    buy-and-hold's; the stability of the optimum across folds.
    """
    return WalkForwardRead.model_validate(optimization)


@router.get("/{optimization_id}/equity", responses=problem_responses(401, 403, 404, 409, 422))
async def get_equity(
    optimization: CurrentOptimization,
    store: StoreDep,
    subject: Annotated[Literal["walk_forward", "buy_and_hold"], Query()] = "walk_forward",
) -> list[dict[str, Any]]:
    """The stitched out-of-sample curve ``[{"t", "equity", "drawdown", "position"}, ...]`` of
    the frozen parameters (or of ``subject=buy_and_hold`` on the same bars); 409 until it has
    succeeded.
    """
    raw = await asyncio.to_thread(service_wfo.read_artifact, store, optimization, "equity.json")
    series: dict[str, list[dict[str, Any]]] = json.loads(raw)
    return series[subject]


@router.get(
    "/{optimization_id}/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **problem_responses(401, 403, 404, 409, 422)},
)
async def get_report(optimization: CurrentOptimization, store: StoreDep) -> HTMLResponse:
    """The stitched out-of-sample tear sheet (equity vs buy-and-hold, drawdown, ...)."""
    html = await asyncio.to_thread(service_wfo.read_artifact, store, optimization, "report.html")
    return HTMLResponse(html.decode())


@router.post("/{optimization_id}/cancel", **transition_route(WalkForwardRead))
async def cancel_optimization(
    optimization: CurrentOptimization, session: SessionDep, state: StateDep, _: WritePrincipal
) -> WalkForwardRead:
    """Cancel: its folds' studies and their training runs are canceled; 409 once ended."""
    canceled = await service_wfo.cancel_optimization(session, state.dispatcher, optimization.id)
    return WalkForwardRead.model_validate(canceled)


@router.get(
    "/{optimization_id}/events",
    response_class=EventSourceResponse,
    responses=problem_responses(401, 403, 404, 422),
)
async def optimization_events(
    optimization: CurrentOptimization, events: JobEventsDep
) -> EventSourceResponse:
    """Server-Sent Events of the optimisation's job (progress, parked on its studies, the end)."""
    return events(optimization.job_id)
