"""``/api/v1/models``: the model registry."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tradeopt_common.web.deps import SessionDep, StoreDep, WritePrincipal
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_training import service
from tradeopt_training.deps import CurrentModel
from tradeopt_training.models import Model, ModelStage
from tradeopt_training.schemas import (
    Algorithm,
    Alias,
    ModelRead,
    ModelStudyUpdate,
    ModelUpdate,
    StageChangeRead,
)

router = APIRouter(prefix="/api/v1/models", tags=["models"], route_class=CachedReadRoute)


async def _read(session: SessionDep, model: Model) -> ModelRead:
    """The model with its stage history (list pages leave the history out)."""
    out = ModelRead.model_validate(model)
    out.history = [
        StageChangeRead.model_validate(h) for h in await service.model_history(session, model.id)
    ]
    return out


class ModelFilters(BaseModel):
    """Registered models, newest first; filter by stage, algorithm, dataset, or alias."""

    stage: ModelStage | None = None
    algorithm: Algorithm | None = None
    dataset_id: uuid.UUID | None = None
    alias: Alias | None = None


add_list_route(router, "list_models", service.list_models, ModelRead, ModelFilters)


@router.get(
    "/{model_id}", response_model=ModelRead, responses=problem_responses(401, 403, 404, 422)
)
async def get_model(model: CurrentModel, session: SessionDep) -> ModelRead:
    """One model with its lineage (dataset and checksum, features, normalisation, env, split,
    algorithm, hyperparameters, seed, code version, run, study) and stage history.
    """
    return await _read(session, model)


@router.get(
    "/{model_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "model.zip"},
        **problem_responses(401, 403, 404, 422),
    },
)
async def download_model(model: CurrentModel, store: StoreDep) -> StreamingResponse:
    """The stable-baselines3 ``model.zip`` (its sha256 is the model's ``checksum``)."""
    chunks = await asyncio.to_thread(store.iter_chunks, model.artifact_key)
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="model-{model.id}.zip"',
            "Content-Length": str(model.size),
            "X-Checksum-SHA256": model.checksum,
        },
    )


@router.patch(
    "/{model_id}", response_model=ModelRead, responses=problem_responses(400, 401, 403, 404, 422)
)
async def update_model(
    model_id: uuid.UUID, body: ModelUpdate, session: SessionDep, principal: WritePrincipal
) -> ModelRead:
    """Move a model between ``candidate``, ``production`` and ``archived`` and/or set its
    aliases; every change is kept in its history.
    """
    model = await service.update_model(session, model_id, body, changed_by=principal.id)
    return await _read(session, model)


@router.delete("/{model_id}", status_code=204, responses=problem_responses(401, 403, 404, 409, 422))
async def delete_model(
    model_id: uuid.UUID, session: SessionDep, store: StoreDep, _: WritePrincipal
) -> Response:
    """Delete a model and its files; 409 while an evaluation or strategy uses it or while it is
    in production (archive it first). Its run stays, without a model.
    """
    await service.delete_model(session, store, model_id)
    return Response(status_code=204)


@router.put(
    "/{model_id}/study",
    response_model=ModelRead,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def record_study(
    model_id: uuid.UUID,
    body: ModelStudyUpdate,
    session: SessionDep,
    store: StoreDep,
    _: WritePrincipal,
) -> ModelRead:
    """Record the outcome of the study this model was trained in (trial count, variance of the
    trials' Sharpe ratios) in its lineage; evaluations of the model then report its deflated
    Sharpe ratio. 409 when the model was not trained as that trial of that study.
    """
    model = await service.record_study_outcome(session, store, model_id, body)
    return await _read(session, model)
