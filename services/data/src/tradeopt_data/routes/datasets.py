"""``/api/v1/datasets``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

from tradeopt_common.errors import MalformedJSON, UnsupportedMediaType
from tradeopt_common.web.deps import (
    IdempotencyDep,
    SessionDep,
    SettingsDep,
    StateDep,
    StoreDep,
    WritePrincipal,
)
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.pagination import CursorQuery
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_data import reads, service
from tradeopt_data.config import DataSettings
from tradeopt_data.deps import CurrentDataset, DatasetForRead
from tradeopt_data.models import DatasetStatus
from tradeopt_data.schemas import (
    SYMBOL_PATTERN,
    BarsPage,
    DatasetCreate,
    DatasetRead,
    DatasetUpdate,
    FeatureBuildRequest,
    FeaturePreviewRequest,
)
from tradeopt_data.uploads import REPAIRS, TIMEFRAMES, staged_upload
from tradeopt_ml.instants import UtcDateTime, UtcEndDateTime

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"], route_class=CachedReadRoute)


_JSON_SCHEMA_REF = {"$ref": "#/components/schemas/DatasetCreateBody"}
_CREATE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _JSON_SCHEMA_REF},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 200},
                        "symbol": {"type": "string", "pattern": SYMBOL_PATTERN},
                        "timeframe": {"type": "string", "enum": list(TIMEFRAMES)},
                        "repair": {
                            "type": "array",
                            "items": {"type": "string", "enum": list(REPAIRS)},
                        },
                    },
                }
            },
        },
    }
}
_BODY = TypeAdapter(DatasetCreate)


@router.post(
    "",
    status_code=202,
    response_model=DatasetRead,
    responses={
        201: {"model": DatasetRead, "description": "Upload validated and stored"},
        **problem_responses(400, 401, 403, 409, 413, 415, 422),
    },
    openapi_extra=_CREATE_OPENAPI,
)
async def create_dataset(
    request: Request,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: SettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Create a dataset.

    * JSON (``source``: ``sample`` | ``synthetic`` | ``yahoo``): the bars are ingested by a job on
      the ``data`` queue — ``202`` with the dataset ``queued`` and a ``Location`` header.
    * ``multipart/form-data`` with a CSV or Parquet ``file`` (optional ``name``, ``symbol``,
      ``timeframe``, ``repair``): validated before anything is stored. A small file is stored in
      the request (``201``, ``ready``); a large one is ingested by a job (``202``). A bad file is a
      ``422`` listing the failing rows and why (``415`` for a wrong media type).

    Accepts ``Idempotency-Key``: a retry with the same key returns the first response.
    """
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _create_from_upload(
            request, session, state, store, settings, principal, idempotency
        )
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(
            f"send application/json (sample, synthetic, yahoo) or multipart/form-data (upload), "
            f"not {media or 'no content type'}"
        )
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the request body is not valid JSON: {exc}") from exc
    try:
        body = _BODY.validate_python(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [_body_error(e) for e in exc.errors(include_url=False)]
        ) from exc
    create = partial(
        service.create_dataset,
        session,
        state.dispatcher,
        body,
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
        max_rows=settings.dataset_max_rows,
    )
    return await idempotency.accept(create, DatasetRead, router.prefix)


def _body_error(error: Any) -> dict[str, Any]:
    """A pydantic error located in the body; an unknown ``source`` is located at ``source``."""
    loc = ("body", *error["loc"])
    if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        loc = (*loc, "source")
    return {**error, "loc": loc}


async def _create_from_upload(
    request: Request,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: DataSettings,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    async with staged_upload(request, settings) as upload:
        if (replayed := await idempotency.begin(content_digest=upload.digest())) is not None:
            return replayed
        dataset, stored = await service.create_from_upload(
            session,
            store,
            state.dispatcher,
            upload,
            inline_max_bytes=settings.upload_inline_max_bytes,
            min_rows=settings.dataset_min_rows,
            max_rows=settings.dataset_max_rows,
            created_by=principal.id,
            max_attempts=settings.job_max_attempts,
        )
    return await idempotency.respond(
        DatasetRead.model_validate(dataset),
        status_code=201 if stored else 202,
        headers={"Location": f"{router.prefix}/{dataset.id}"},
    )


class DatasetFilters(BaseModel):
    """Datasets, newest first; filter by ``status``."""

    status: DatasetStatus | None = None


add_list_route(router, "list_datasets", service.list_datasets, DatasetRead, DatasetFilters)


@router.get(
    "/{dataset_id}", response_model=DatasetRead, responses=problem_responses(401, 403, 404, 422)
)
async def get_dataset(dataset: DatasetForRead) -> DatasetRead:
    """One dataset."""
    return DatasetRead.model_validate(dataset)


@router.patch(
    "/{dataset_id}", response_model=DatasetRead, responses=problem_responses(401, 403, 404, 422)
)
async def update_dataset(
    dataset_id: uuid.UUID, body: DatasetUpdate, session: SessionDep, _: WritePrincipal
) -> DatasetRead:
    """Rename a dataset."""
    return DatasetRead.model_validate(await service.rename_dataset(session, dataset_id, body.name))


@router.delete(
    "/{dataset_id}", status_code=204, responses=problem_responses(401, 403, 404, 409, 422)
)
async def delete_dataset(
    dataset_id: uuid.UUID, session: SessionDep, store: StoreDep, _: WritePrincipal
) -> Response:
    """Delete a dataset and its stored bars (a queued ingest is canceled; running → 409)."""
    await service.delete_dataset(session, store, dataset_id)
    return Response(status_code=204)


def _ready(dataset: Any) -> None:
    reads.require_ready(dataset)


@router.get(
    "/{dataset_id}/bars",
    response_model=BarsPage,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Bars as JSON or CSV"},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def get_bars(
    dataset: CurrentDataset,
    store: StoreDep,
    symbol: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
    start: Annotated[
        UtcDateTime | None, Query(description="ISO 8601 date or date-time (UTC if no offset)")
    ] = None,
    end: Annotated[
        UtcEndDateTime | None,
        Query(description="ISO 8601, inclusive (a date alone covers its whole day)"),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    cursor: CursorQuery = None,
) -> Response:
    """Stored bars (raw OHLC, ``adj_close``, volume), by symbol and date range.

    JSON pages hold ``limit`` rows (default 1000) and a ``next_cursor``. CSV returns every
    matching row unless ``limit`` is given (the next cursor is then in ``X-Next-Cursor``).
    Floats are written in their shortest exact form, so values round-trip bit for bit.
    """
    _ready(dataset)
    offset = reads.decode_offset(cursor)
    frame = await asyncio.to_thread(reads.load_frame, store, dataset)
    chosen = reads.select_bars(frame, symbol=symbol, start=start, end=end)
    size = limit if limit is not None else (1000 if format == "json" else len(chosen))
    page = chosen.iloc[offset : offset + size]
    next_cursor = reads.encode_offset(offset + size) if offset + size < len(chosen) else None
    if format == "csv":
        headers = {"X-Total-Count": str(len(chosen))}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if len(page) <= CSV_CHUNK_ROWS:
            text = await asyncio.to_thread(reads.bars_csv, page)
            return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
        return StreamingResponse(
            _csv_chunks(page), media_type="text/csv; charset=utf-8", headers=headers
        )
    items = await asyncio.to_thread(reads.bars_records, page)
    return JSONResponse({"items": items, "next_cursor": next_cursor, "total": len(chosen)})


#: Rows rendered at a time when a CSV answer is streamed (memory stays bounded per request).
CSV_CHUNK_ROWS = 50_000


async def _csv_chunks(page: Any) -> AsyncIterator[str]:
    """The CSV of ``page`` in chunks of :data:`CSV_CHUNK_ROWS` rows (one header)."""
    for start in range(0, len(page), CSV_CHUNK_ROWS):
        chunk = page.iloc[start : start + CSV_CHUNK_ROWS]
        text = await asyncio.to_thread(reads.bars_csv, chunk)
        yield text if start == 0 else text.split("\n", 1)[1]


@router.get("/{dataset_id}/summary", responses=problem_responses(401, 403, 404, 409, 422))
async def get_summary(dataset: CurrentDataset, store: StoreDep) -> dict[str, Any]:
    """Per-symbol statistics: total return, volatility, max drawdown, volume, and gaps against
    the exchange calendar (NYSE sessions for daily bars; spacing outliers otherwise).
    """
    _ready(dataset)
    summary = await asyncio.to_thread(reads.dataset_summary, store, dataset)
    return {"dataset_id": str(dataset.id), "symbols": summary}


@router.get("/{dataset_id}/splits", responses=problem_responses(401, 403, 404, 409, 422))
async def get_splits(
    dataset: CurrentDataset,
    store: StoreDep,
    train: Annotated[float | None, Query(gt=0, lt=1)] = None,
    validation: Annotated[float | None, Query(ge=0, lt=1)] = None,
    test: Annotated[float | None, Query(gt=0, lt=1)] = None,
    train_end: Annotated[date | None, Query()] = None,
    validation_end: Annotated[date | None, Query()] = None,
    embargo: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    fold_train_bars: Annotated[int | None, Query(ge=1)] = None,
    fold_test_bars: Annotated[int | None, Query(ge=1)] = None,
    fold_step_bars: Annotated[int | None, Query(ge=1)] = None,
    fold_embargo_bars: Annotated[int | None, Query(ge=0)] = None,
    fold_expanding: bool = False,
    max_folds: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> dict[str, Any]:
    """Exactly which bars each part covers: train/validation/test by fractions (default
    70/15/15) or dates (``train_end``, ``validation_end``, inclusive), and optionally walk-forward
    folds (``fold_train_bars`` + ``fold_test_bars`` [+ step, embargo, expanding]).
    """
    _ready(dataset)
    split = {
        "train": train,
        "validation": validation,
        "test": test,
        "train_end": train_end,
        "validation_end": validation_end,
        "embargo": embargo,
    }
    folds = None
    if fold_train_bars is not None or fold_test_bars is not None:
        folds = {
            "train_bars": fold_train_bars,
            "test_bars": fold_test_bars,
            "step_bars": fold_step_bars,
            "embargo_bars": fold_embargo_bars,
            "expanding": fold_expanding,
            "max_folds": max_folds,
        }
    result = await asyncio.to_thread(reads.dataset_splits, store, dataset, split, folds)
    return {"dataset_id": str(dataset.id), **result}


@router.post(
    "/{dataset_id}/features/preview", responses=problem_responses(400, 401, 403, 404, 409, 422)
)
async def preview_features(
    dataset: CurrentDataset, body: FeaturePreviewRequest, store: StoreDep, _: WritePrincipal
) -> dict[str, Any]:
    """Compute a feature set (or read it from the cache in object storage, keyed by the spec's
    hash) and return some rows; warm-up rows are ``null``, never filled from the future.
    """
    _ready(dataset)
    spec = reads.parse_spec(body.spec)
    return await asyncio.to_thread(
        reads.preview_features,
        store,
        dataset,
        spec,
        symbol=body.symbol,
        start=body.start,
        end=body.end,
        limit=body.limit,
        normalize_train_end=body.normalize_train_end,
    )


@router.post(
    "/{dataset_id}/features",
    status_code=202,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def build_features(
    dataset: CurrentDataset,
    body: FeatureBuildRequest,
    session: SessionDep,
    state: StateDep,
    settings: SettingsDep,
    principal: WritePrincipal,
) -> JSONResponse:
    """Build and cache a feature set as a job on the ``data`` queue (202 with the job)."""
    _ready(dataset)
    spec = reads.parse_spec(body.spec)
    job = await service.enqueue_feature_build(
        session,
        state.dispatcher,
        dataset,
        spec.model_dump(mode="json"),
        created_by=principal.id,
        max_attempts=settings.job_max_attempts,
    )
    return JSONResponse(
        {
            "job_id": str(job.id),
            "status": job.status,
            "spec_hash": spec.hash(),
            "key": reads.features_key(dataset.id, spec.hash()),
        },
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )
