"""Dataset rules and state transitions; called by routes and tasks (no FastAPI, no Celery)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.base import utcnow
from tradeopt_common.db.repository import Page
from tradeopt_common.db.session import after_commit
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext
from tradeopt_common.logging import get_logger
from tradeopt_common.storage import ArtifactStore
from tradeopt_data.errors import DatasetNotFound, DatasetStateConflict
from tradeopt_data.models import Dataset, DatasetStatus
from tradeopt_data.repository import DatasetRepository
from tradeopt_data.schemas import DatasetCreate
from tradeopt_ml.data import (
    BarValidationError,
    bars_checksum,
    load_sample,
    validate_bars,
    write_bars_parquet,
)

log = get_logger(__name__)
RESOURCE = "dataset"


def bars_key(dataset_id: uuid.UUID) -> str:
    """Object key of a dataset's bars (never built from user input)."""
    return f"datasets/{dataset_id}/bars.parquet"


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    """Prefix of every object of a dataset."""
    return f"datasets/{dataset_id}/"


async def create_dataset(
    session: AsyncSession,
    dispatcher: Dispatcher,
    body: DatasetCreate,
    *,
    created_by: str | None,
    max_attempts: int,
) -> Dataset:
    """Insert a queued dataset and its ingest job (published after commit)."""
    symbol = str(body.symbol.value)
    dataset = Dataset(
        name=body.name or f"{symbol} daily (sample)",
        source=body.source,
        status=DatasetStatus.QUEUED,
        symbols=[symbol],
        timeframe="1d",
        request=body.model_dump(mode="json"),
        created_by=created_by,
    )
    await DatasetRepository(session).add(dataset)
    job = await jobs.create_job(
        session,
        dispatcher,
        TaskName.DATA_INGEST_BARS,
        params={"dataset_id": str(dataset.id)},
        resource_type=RESOURCE,
        resource_id=dataset.id,
        max_attempts=max_attempts,
        created_by=created_by,
    )
    dataset.job_id = job.id
    await session.flush()
    return dataset


async def get_dataset(session: AsyncSession, dataset_id: uuid.UUID) -> Dataset:
    """The dataset, or :class:`DatasetNotFound`."""
    dataset = await DatasetRepository(session).get(dataset_id)
    if dataset is None:
        raise DatasetNotFound(f"dataset {dataset_id} does not exist")
    return dataset


async def list_datasets(
    session: AsyncSession, *, limit: int, cursor: str | None, status: str | None
) -> Page[Dataset]:
    """Datasets, newest first."""
    repo = DatasetRepository(session)
    return await repo.paginate(repo.filtered(status), limit=limit, cursor=cursor)


async def delete_dataset(
    session: AsyncSession, store: ArtifactStore, dataset_id: uuid.UUID
) -> None:
    """Delete a dataset and, after commit, its objects. A queued ingest is canceled first; a
    running one is a 409 (cancel its job, then delete).
    """
    repo = DatasetRepository(session)
    dataset = await repo.get(dataset_id, for_update=True)
    if dataset is None:
        raise DatasetNotFound(f"dataset {dataset_id} does not exist")
    if dataset.status == DatasetStatus.RUNNING:
        raise DatasetStateConflict(
            f"dataset {dataset_id} is being ingested by job {dataset.job_id}; "
            "cancel the job (POST /api/v1/jobs/{id}/cancel) and delete it afterwards"
        )
    if dataset.status == DatasetStatus.QUEUED and dataset.job_id is not None:
        job = await session.get(Job, dataset.job_id)
        if job is not None and job.status == JobStatus.QUEUED:
            await jobs.request_cancel(session, job.id)
        elif job is not None and job.status == JobStatus.RUNNING:
            raise DatasetStateConflict(f"dataset {dataset_id} is being ingested; try again later")
    await repo.delete(dataset)
    prefix = dataset_prefix(dataset_id)

    async def _delete_objects() -> None:
        removed = await asyncio.to_thread(store.delete_prefix, prefix)
        log.info("dataset.objects_deleted", dataset_id=str(dataset_id), objects=removed)

    after_commit(session, _delete_objects)


async def _set_status(session: AsyncSession, dataset_id: uuid.UUID, **values: Any) -> Dataset:
    dataset = await get_dataset(session, dataset_id)
    for name, value in values.items():
        setattr(dataset, name, value)
    dataset.updated_at = utcnow()
    await session.flush()
    return dataset


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``data.ingest_bars``: load, validate, store Parquet, record metadata.

    Idempotent: the object key is deterministic and overwritten on a retry.
    """
    dataset_id = uuid.UUID(ctx.params["dataset_id"])
    dataset = ctx.db(lambda s: _set_status(s, dataset_id, status=DatasetStatus.RUNNING))
    request = dataset.request
    ctx.progress(0.1, "loading bars", force=True)
    if request.get("source") != "sample":
        raise ValidationFailed(f"unsupported source {request.get('source')!r}")
    frame = load_sample(request["symbol"])
    ctx.progress(0.4, f"validating {len(frame)} bars")
    try:
        validate_bars(frame)
    except BarValidationError as exc:
        raise ValidationFailed(f"bars failed validation: {exc}", errors=exc.problems) from exc
    ctx.progress(0.6, "writing parquet")
    checksum = bars_checksum(frame)
    with tempfile.TemporaryDirectory(prefix="tradeopt-ingest-") as tmp:
        path = Path(tmp) / "bars.parquet"
        write_bars_parquet(frame, path)
        ctx.progress(0.8, "uploading")
        info = ctx.store.put_file(
            bars_key(dataset_id), path, content_type="application/vnd.apache.parquet"
        )
    ctx.check()
    start = frame["timestamp"].min().to_pydatetime()
    end = frame["timestamp"].max().to_pydatetime()
    meta = {
        "price_for_returns": "adj_close",
        "price_for_fills": "open/close (raw)",
        "bars_per_year": 252,
        "file_size": info.size,
    }
    ctx.db(
        lambda s: _set_status(
            s,
            dataset_id,
            symbols=sorted(frame["symbol"].unique().tolist()),
            start=start,
            end=end,
            rows=len(frame),
            checksum=checksum,
            file_checksum=info.sha256,
            storage_key=bars_key(dataset_id),
            meta=meta,
        )
    )
    return {"dataset_id": str(dataset_id), "rows": len(frame), "checksum": checksum}


async def on_ingest_end(session: AsyncSession, job: Job, status: JobStatus) -> None:
    """Mirror the job's end on the dataset, in the same transaction that ends the job."""
    if job.resource_id is None:
        return
    dataset = await DatasetRepository(session).get(job.resource_id)
    if dataset is None:  # deleted meanwhile
        return
    dataset.status = {
        JobStatus.SUCCEEDED: DatasetStatus.READY,
        JobStatus.FAILED: DatasetStatus.FAILED,
        JobStatus.CANCELED: DatasetStatus.CANCELED,
    }[status]
    dataset.error = job.error
    dataset.updated_at = utcnow()
    await session.flush()
