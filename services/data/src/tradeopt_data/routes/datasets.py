"""``/api/v1/datasets``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from tradeopt_common.web.deps import (
    IdempotencyDep,
    ReadPrincipal,
    SessionDep,
    SettingsDep,
    StateDep,
    StoreDep,
    WritePrincipal,
)
from tradeopt_common.web.pagination import CursorQuery, LimitQuery, PageRead
from tradeopt_common.web.problems import PROBLEM_JSON
from tradeopt_data import service
from tradeopt_data.deps import CurrentDataset
from tradeopt_data.models import DatasetStatus
from tradeopt_data.schemas import DatasetCreate, DatasetRead

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def _problems(*codes: int) -> dict[int | str, dict[str, object]]:
    names = {
        400: "Malformed request",
        401: "No valid API key",
        403: "Missing scope",
        404: "Unknown dataset",
        409: "State conflict",
        413: "Body too large",
        422: "Invalid request",
    }
    return {c: {"content": {PROBLEM_JSON: {}}, "description": names[c]} for c in codes}


@router.post(
    "",
    status_code=202,
    response_model=DatasetRead,
    responses=_problems(400, 401, 403, 409, 413, 422),
)
async def create_dataset(
    body: DatasetCreate,
    session: SessionDep,
    state: StateDep,
    settings: SettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Create a dataset; the bars are ingested by a job on the ``data`` queue (202, ``Location``).

    Accepts ``Idempotency-Key``: a retry with the same key returns the first response.
    """
    if (replayed := await idempotency.begin()) is not None:
        return replayed
    dataset = await service.create_dataset(
        session,
        state.dispatcher,
        body,
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
    )
    return await idempotency.respond(
        DatasetRead.model_validate(dataset),
        status_code=202,
        headers={"Location": f"/api/v1/datasets/{dataset.id}"},
    )


@router.get("", response_model=PageRead[DatasetRead], responses=_problems(401, 403, 422))
async def list_datasets(
    session: SessionDep,
    _: ReadPrincipal,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    status: Annotated[DatasetStatus | None, Query()] = None,
) -> PageRead[DatasetRead]:
    """Datasets, newest first; filter by ``status``."""
    page = await service.list_datasets(session, limit=limit, cursor=cursor, status=status)
    return PageRead(
        items=[DatasetRead.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )


@router.get("/{dataset_id}", response_model=DatasetRead, responses=_problems(401, 403, 404, 422))
async def get_dataset(dataset: CurrentDataset) -> DatasetRead:
    """One dataset."""
    return DatasetRead.model_validate(dataset)


@router.delete("/{dataset_id}", status_code=204, responses=_problems(401, 403, 404, 409, 422))
async def delete_dataset(
    dataset_id: uuid.UUID, session: SessionDep, store: StoreDep, _: WritePrincipal
) -> Response:
    """Delete a dataset and its stored bars (a queued ingest is canceled; running → 409)."""
    await service.delete_dataset(session, store, dataset_id)
    return Response(status_code=204)
