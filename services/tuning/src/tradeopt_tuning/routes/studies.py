"""``/api/v1/studies``: hyperparameter studies (parked parent jobs on the ``tuning`` queue)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.web.deps import (
    IdempotencyDep,
    ReadPrincipal,
    SessionDep,
    StateDep,
    StoreDep,
    WritePrincipal,
)
from tradeopt_common.web.idempotency import accepted_route, transition_route
from tradeopt_common.web.job_events import JobEventsDep
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_ml.tuning import (
    MAX_OBJECTIVES,
    MULTI_OBJECTIVE_SAMPLERS,
    OBJECTIVE_METRICS,
    PRUNERS,
    available_samplers,
    space_to_json,
)
from tradeopt_ml.tuning import default_search_space as _default_space
from tradeopt_tuning import service
from tradeopt_tuning.deps import CurrentStudy, TuningSettingsDep
from tradeopt_tuning.models import StudyStatus, TrialState
from tradeopt_tuning.schemas import (
    Algorithm,
    SamplersRead,
    SearchSpaceRead,
    StudyCreate,
    StudyRead,
    TrialRead,
)

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])


@router.post("", **accepted_route(StudyRead))
async def create_study(
    body: StudyCreate,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: TuningSettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Start a study: 202 with the study ``queued`` and a ``Location``. Its job keeps up to
    ``parallelism`` trials training (each an ordinary training run tagged with the study and
    trial number) until ``n_trials`` are complete; the best trial's model is recorded.

    Accepts ``Idempotency-Key``.
    """
    create = partial(
        service.create_study,
        session,
        store,
        state.dispatcher,
        body,
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
        max_trials=settings.tuning_max_trials,
        max_parallelism=settings.tuning_max_parallelism,
    )
    return await idempotency.accept(create, StudyRead, router.prefix)


class StudyFilters(BaseModel):
    """Studies, newest first; filter by status, dataset or algorithm."""

    status: StudyStatus | None = None
    dataset_id: uuid.UUID | None = None
    algorithm: Algorithm | None = None


add_list_route(router, "list_studies", service.list_studies, StudyRead, StudyFilters)


@router.get(
    "/search-spaces/{algorithm}",
    response_model=SearchSpaceRead,
    responses=problem_responses(401, 403, 422),
)
async def default_search_space(algorithm: Algorithm, _: ReadPrincipal) -> SearchSpaceRead:
    """The default search space of an algorithm (what ``search_space`` may override)."""
    return SearchSpaceRead(
        algorithm=algorithm, search_space=space_to_json(_default_space(algorithm))
    )


@router.get("/options", response_model=SamplersRead, responses=problem_responses(401, 403))
async def study_options(_: ReadPrincipal) -> SamplersRead:
    """The samplers, pruners and objective metrics this deployment accepts."""
    return SamplersRead(
        samplers=available_samplers(),
        pruners=list(PRUNERS),
        objectives=list(OBJECTIVE_METRICS),
        multi_objective_samplers=[s for s in MULTI_OBJECTIVE_SAMPLERS if s in available_samplers()],
        max_objectives=MAX_OBJECTIVES,
    )


@router.get(
    "/{study_id}", response_model=StudyRead, responses=problem_responses(401, 403, 404, 422)
)
async def get_study(study: CurrentStudy) -> StudyRead:
    """One study: status, progress, trial counts, the best trial and its model."""
    return StudyRead.model_validate(study)


@router.get(
    "/{study_id}/trials",
    response_model=list[TrialRead],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_trials(
    study: CurrentStudy,
    session: SessionDep,
    state: Annotated[TrialState | None, Query()] = None,
) -> list[TrialRead]:
    """The study's trials by number: sampled parameters, objective value(s), state, training run
    and model, duration.
    """
    trials = await service.list_trials(session, study.id, state)
    return [TrialRead.model_validate(t) for t in trials]


@router.post("/{study_id}/cancel", **transition_route(StudyRead))
async def cancel_study(
    study: CurrentStudy, session: SessionDep, state: StateDep, _: WritePrincipal
) -> StudyRead:
    """Cancel a study: no new trials, its training trial runs are canceled; 409 once ended."""
    canceled = await service.cancel_study(session, state.dispatcher, study.id)
    return StudyRead.model_validate(canceled)


@router.post("/{study_id}/resume", **transition_route(StudyRead))
async def resume_study(
    study: CurrentStudy,
    session: SessionDep,
    state: StateDep,
    settings: TuningSettingsDep,
    principal: WritePrincipal,
) -> StudyRead:
    """Continue a canceled or failed study to ``n_trials`` complete trials (finished trials are
    kept, never re-run); 409 while it is active.
    """
    resumed = await service.resume_study(
        session,
        state.dispatcher,
        study.id,
        max_attempts=settings.job_max_attempts,
        created_by=principal.id,
    )
    return StudyRead.model_validate(resumed)


@router.get(
    "/{study_id}/events",
    response_class=EventSourceResponse,
    responses=problem_responses(401, 403, 404, 422),
)
async def study_events(study: CurrentStudy, events: JobEventsDep) -> EventSourceResponse:
    """Server-Sent Events of the study's job (progress, trials complete, the end)."""
    return events(study.job_id)
