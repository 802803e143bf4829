"""``/api/v1/evaluations``: backtests with metrics, benchmarks, statistics and reports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.errors import ValidationFailed
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.web.deps import (
    IdempotencyDep,
    SessionDep,
    SettingsDep,
    StateDep,
    StoreDep,
    WritePrincipal,
)
from tradeopt_common.web.idempotency import accepted_route
from tradeopt_common.web.job_events import JobEventsDep
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_evaluation import service
from tradeopt_evaluation.deps import CurrentEvaluation
from tradeopt_evaluation.models import Evaluation, EvaluationStatus
from tradeopt_evaluation.schemas import (
    EvaluationCompare,
    EvaluationCreate,
    EvaluationRead,
    WalkForwardEvaluationCreate,
)

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"], route_class=CachedReadRoute)


def _primary(subjects: list[str]) -> str:
    """Name of the first subject as the job stores its series (``model:<id>`` or the baseline)."""
    first = subjects[0]
    return first.removeprefix("baseline:")


async def _of_subject(
    store: ArtifactStore, evaluation: Evaluation, artifact: str, subject: str | None, what: str
) -> list[dict[str, Any]]:
    """The part of a per-subject artifact (``{subject: rows}``) for ``subject`` (default: the
    evaluated one); 422 naming the choices when it has none. A subject is named as the
    evaluation lists it (``baseline:buy_and_hold``, ``model:<id>``) or by the bare baseline
    name (``buy_and_hold``), so names round-trip.
    """
    by_subject = await asyncio.to_thread(service.read_json_artifact, store, evaluation, artifact)
    name = subject.removeprefix("baseline:") if subject else _primary(evaluation.subjects)
    if name not in by_subject:
        choices = ", ".join(sorted(by_subject))
        raise ValidationFailed(f"no {what} {name!r}; choose one of {choices}")
    return by_subject[name]


EvaluationBody = EvaluationCreate | EvaluationCompare | WalkForwardEvaluationCreate
Creator = Callable[[EvaluationBody], Awaitable[JSONResponse]]


def _creator(
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: SettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> Creator:
    """What the three create routes share: idempotency, the job, the 202 with ``Location``."""

    async def create(body: EvaluationBody) -> JSONResponse:
        create_evaluation = partial(
            service.create_evaluation,
            session,
            store,
            state.dispatcher,
            body,
            created_by=principal.id,
            max_attempts=settings.job_max_attempts,
        )
        return await idempotency.accept(create_evaluation, EvaluationRead, router.prefix)

    return create


CreatorDep = Annotated[Creator, Depends(_creator)]
_CREATE_ROUTE = accepted_route(EvaluationRead)
"""What the three create routes declare (their 202, body and problems)."""


@router.post("", **_CREATE_ROUTE)
async def create_evaluation(body: EvaluationCreate, create: CreatorDep) -> JSONResponse:
    """Backtest a model (deterministic policy) or a baseline on a split (default: ``test``, out
    of sample) or a date range, with buy-and-hold and the other baselines on the same bars and
    costs; 202 with a job on the ``evaluation`` queue. Accepts ``Idempotency-Key``.
    """
    return await create(body)


@router.post("/compare", **_CREATE_ROUTE)
async def compare_models(body: EvaluationCompare, create: CreatorDep) -> JSONResponse:
    """Several models (and baselines) on the same bars and costs; ``comparison`` holds their
    metrics side by side, ``verdicts`` the paired tests of every model vs every benchmark with
    family-wise adjusted p-values, and the seed robustness of models that differ only by seed.
    """
    return await create(body)


@router.post("/walk-forward", **_CREATE_ROUTE)
async def walk_forward(body: WalkForwardEvaluationCreate, create: CreatorDep) -> JSONResponse:
    """Walk-forward evaluation as one job: one training run per fold on the fold's training
    window (through the training service), each evaluated on the following test window; the
    test windows are stitched into one out-of-sample equity curve (``comparison`` holds the
    per-fold metrics, ``metrics`` the overall ones vs buy-and-hold).
    """
    return await create(body)


class EvaluationFilters(BaseModel):
    """Evaluations, newest first; filter by status, dataset or model."""

    status: EvaluationStatus | None = None
    dataset_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None


add_list_route(
    router, "list_evaluations", service.list_evaluations, EvaluationRead, EvaluationFilters
)


@router.get(
    "/{evaluation_id}",
    response_model=EvaluationRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_evaluation(evaluation: CurrentEvaluation) -> EvaluationRead:
    """One evaluation: metrics, benchmarks (buy-and-hold, flat, sma_crossover, momentum, the
    random baseline's distribution), ``sharpe_ci``, ``deflated_sharpe`` (tuned models), the
    probabilistic Sharpe, diagnostics, cost sensitivity (0x-3x costs) and ``verdicts``: each
    candidate vs each benchmark on the same bars (studentized block-bootstrap test of the Sharpe
    difference, Romano-Wolf adjusted p-values over the candidates, SPA per benchmark), seed
    robustness of run specs evaluated with several seeds, and PBO over the candidates.
    """
    return EvaluationRead.model_validate(evaluation)


@router.delete(
    "/{evaluation_id}", status_code=204, responses=problem_responses(401, 403, 404, 409, 422)
)
async def delete_evaluation(
    evaluation_id: uuid.UUID, session: SessionDep, store: StoreDep, _: WritePrincipal
) -> Response:
    """Delete a finished evaluation and its stored results (its dataset and models become
    deletable once nothing else uses them); 409 while it is queued, running or waiting.
    """
    await service.delete_evaluation(session, store, evaluation_id)
    return Response(status_code=204)


@router.get("/{evaluation_id}/equity", responses=problem_responses(401, 403, 404, 409, 422))
async def get_equity(
    evaluation: CurrentEvaluation,
    store: StoreDep,
    subject: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """``[{"t", "equity", "drawdown", "position"}, ...]`` of the evaluated subject (or of
    ``subject``: ``buy_and_hold``, or another subject of a comparison).
    """
    return await _of_subject(store, evaluation, "equity.json", subject, "series")


@router.get("/{evaluation_id}/trades", responses=problem_responses(401, 403, 404, 409, 422))
async def get_trades(
    evaluation: CurrentEvaluation,
    store: StoreDep,
    subject: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """Round trips of the evaluated subject: entry/exit time and price, size, PnL, costs."""
    return await _of_subject(store, evaluation, "trades.json", subject, "trades")


@router.get(
    "/{evaluation_id}/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, **problem_responses(401, 403, 404, 409, 422)},
)
async def get_report(evaluation: CurrentEvaluation, store: StoreDep) -> HTMLResponse:
    """A self-contained HTML tear sheet: equity vs buy-and-hold, drawdown, monthly returns,
    rolling Sharpe, position over time, metrics side by side.
    """
    html = await asyncio.to_thread(service.read_artifact, store, evaluation, "report.html")
    return HTMLResponse(html.decode())


@router.get(
    "/{evaluation_id}/events",
    response_class=EventSourceResponse,
    responses=problem_responses(401, 403, 404, 422),
)
async def evaluation_events(
    evaluation: CurrentEvaluation, events: JobEventsDep
) -> EventSourceResponse:
    """Server-Sent Events of the evaluation's job."""
    return events(evaluation.job_id)
