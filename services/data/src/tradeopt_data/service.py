"""Dataset rules and state transitions; called by routes and by the job bodies in ``jobs``
(no FastAPI, no Celery). A dataset follows its ingest job through :data:`DATASET`, a declared
:class:`~tradeopt_common.jobs.resources.ResourceBinding`.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from tradeopt_common.contracts.datasets import DatasetManifest, bars_key, write_manifest
from tradeopt_common.db.repository import Page
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.resources import (
    ResourceBinding,
    create_with_job,
    register_binding,
    statuses_by_name,
)
from tradeopt_common.jobs.runtime import get_runtime
from tradeopt_common.logging import get_logger
from tradeopt_common.references import guard_deletion, record_deletion
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.cleanup import delete_prefix_after_commit
from tradeopt_data import sources
from tradeopt_data.config import DataSettings
from tradeopt_data.errors import DatasetNotFound, DatasetStateConflict
from tradeopt_data.models import Dataset, DatasetStatus
from tradeopt_data.repository import DatasetRepository
from tradeopt_data.schemas import DatasetCreate, DatasetCreateSample, DatasetCreateSynthetic
from tradeopt_ml.data import bars_checksum, bars_per_year_of_bars, write_bars_parquet

log = get_logger(__name__)
RESOURCE = "dataset"
PARQUET = "application/vnd.apache.parquet"
DEFAULT_MIN_ROWS = 30
#: Rows per dataset (all symbols) unless the settings say otherwise (``dataset_max_rows``).
DEFAULT_MAX_ROWS: int = DataSettings.model_fields["dataset_max_rows"].default


class DatasetUpdate(TypedDict, total=False):
    """The dataset fields an ingest job writes (what describes the stored bars)."""

    symbols: list[str]
    start: Any
    end: Any
    rows: int
    checksum: str
    file_checksum: str
    storage_key: str
    meta: dict[str, Any]


async def _drop_rejected_upload(session: AsyncSession, job: Job, dataset: Any) -> None:
    """A rejected (or abandoned) upload leaves no dataset and no object behind; the job record
    keeps the reason and the row report (``result.problem``).
    """
    if dataset is None or dataset.source != "upload" or job.status == JobStatus.SUCCEEDED:
        return
    await DatasetRepository(session).delete(dataset)
    store = get_runtime().store  # terminal transitions of bound jobs run in a worker or inline
    await delete_prefix_after_commit(session, store, dataset_prefix(dataset.id))


#: A dataset follows its ingest job (feature builds are jobs *about* a dataset, not bound to it).
DATASET: ResourceBinding[Dataset, DatasetUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=Dataset,
        patch=DatasetUpdate,
        # an ingest never parks; its dataset is ``ready`` when it succeeds
        statuses=statuses_by_name(
            DatasetStatus, waiting=DatasetStatus.RUNNING, succeeded=DatasetStatus.READY
        ),
        kinds=(TaskName.DATA_INGEST_BARS,),
        finished_field=None,
        after_end=_drop_rejected_upload,
    )
)


def upload_key(dataset_id: uuid.UUID) -> str:
    """Object key of a large upload waiting for its ingest job (deleted afterwards)."""
    return f"datasets/{dataset_id}/upload.bin"


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    """Prefix of every object of a dataset."""
    return f"datasets/{dataset_id}/"


def _default_name(body: DatasetCreate) -> tuple[str, list[str], str]:
    """Name, symbols and timeframe a JSON request implies."""
    if isinstance(body, DatasetCreateSample):
        symbols = body.symbol_list()
        label = "+".join(symbols)
        return f"{label} daily (sample)", symbols, "1d"
    if isinstance(body, DatasetCreateSynthetic):
        label = "+".join(body.symbols[:3]) + ("+…" if len(body.symbols) > 3 else "")
        return (
            f"{label} {body.kind} (synthetic, seed {body.seed})",
            list(body.symbols),
            body.frequency,
        )
    return f"{body.symbol} {body.interval} (yahoo)", [body.symbol], body.interval


async def create_dataset(
    session: AsyncSession,
    dispatcher: Dispatcher,
    body: DatasetCreate,
    *,
    created_by: str | None,
    max_attempts: int,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Dataset:
    """Insert a queued dataset and its ingest job (published after commit). A synthetic
    request for more than ``max_rows`` bars in all is a 422 naming ``bars``.
    """
    if isinstance(body, DatasetCreateSynthetic):
        sources.synthetic_spec(body.model_dump(mode="json"))  # 422 now, not a failed job later
        rows = len(body.symbols) * body.bars
        if rows > max_rows:
            raise ValidationFailed(
                f"{len(body.symbols)} symbols x {body.bars} bars = {rows} rows exceeds the "
                f"limit of {max_rows} rows per dataset (TRADING_OPT_DATASET_MAX_ROWS)",
                errors=[
                    {
                        "loc": ["body", "bars"],
                        "msg": f"at most {max_rows // len(body.symbols)} bars for "
                        f"{len(body.symbols)} symbols",
                        "type": "less_than_equal",
                    }
                ],
            )
    name, symbols, timeframe = _default_name(body)
    dataset = Dataset(
        name=body.name or name,
        source=body.source,
        status=DatasetStatus.QUEUED,
        symbols=symbols,
        timeframe=timeframe,
        request=body.model_dump(mode="json"),
        created_by=created_by,
    )
    await _create_with_ingest(session, dispatcher, dataset, created_by, max_attempts)
    return dataset


async def _create_with_ingest(
    session: AsyncSession,
    dispatcher: Dispatcher,
    dataset: Dataset,
    created_by: str | None,
    max_attempts: int,
) -> None:
    await create_with_job(
        session,
        dispatcher,
        DATASET,
        dataset,
        kind=TaskName.DATA_INGEST_BARS,
        max_attempts=max_attempts,
        created_by=created_by,
    )


@dataclass
class StagedUpload:
    """An uploaded file already streamed to a local temporary path by the route."""

    path: Path
    size: int
    sha256: str
    filename: str | None
    content_type: str | None
    symbol: str | None
    name: str | None
    timeframe: str
    repairs: list[str]

    def digest(self) -> str:
        """What identifies this request for ``Idempotency-Key`` (fields + file content)."""
        fields = [self.sha256, self.filename, self.content_type, self.symbol, self.name]
        fields += [self.timeframe, ",".join(self.repairs)]
        return hashlib.sha256("\n".join(str(f) for f in fields).encode()).hexdigest()


async def create_from_upload(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    upload: StagedUpload,
    *,
    inline_max_bytes: int,
    min_rows: int,
    created_by: str | None,
    max_attempts: int,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> tuple[Dataset, bool]:
    """Create a dataset from an upload. Small files are validated and stored in the request
    (``ready``, returns ``(dataset, True)``); large ones go to the ``data`` queue as a job
    (``queued``). A rejected file raises 415/422 and stores nothing.
    """
    request = {
        "source": "upload",
        "filename": upload.filename,
        "content_type": upload.content_type,
        "symbol": upload.symbol,
        "repair": upload.repairs,
        "size": upload.size,
        "sha256": upload.sha256,
        "max_rows": max_rows,
    }
    dataset = Dataset(
        id=uuid.uuid4(),
        name=upload.name or (upload.filename or "upload")[:200],
        source="upload",
        status=DatasetStatus.QUEUED,
        symbols=[upload.symbol] if upload.symbol else [],
        timeframe=upload.timeframe,
        request=request,
        created_by=created_by,
    )
    if upload.size > inline_max_bytes:
        key = upload_key(dataset.id)
        await asyncio.to_thread(store.put_file, key, upload.path)
        dataset.request = {**request, "upload_key": key}
        await _create_with_ingest(session, dispatcher, dataset, created_by, max_attempts)
        return dataset, False
    loaded = await asyncio.to_thread(
        lambda: sources.finalize(
            sources.load_upload(
                upload.path,
                filename=upload.filename,
                content_type=upload.content_type,
                symbol=upload.symbol,
                repairs=upload.repairs,
                min_rows=min_rows,
            ),
            max_rows=max_rows,
        )
    )
    values = await asyncio.to_thread(store_bars, store, dataset.id, loaded)
    meta = {**values.pop("meta", {}), "upload": {"size": upload.size, "sha256": upload.sha256}}
    dataset = Dataset(
        id=dataset.id,
        name=dataset.name,
        source="upload",
        status=DatasetStatus.READY,
        timeframe=upload.timeframe,
        request=request,
        created_by=created_by,
        meta=meta,
        **values,
    )
    try:
        await asyncio.to_thread(write_manifest, store, manifest_of(dataset))
        await DatasetRepository(session).add(dataset)
    except BaseException:
        await asyncio.to_thread(store.delete_prefix, dataset_prefix(dataset.id))
        raise
    return dataset, True


def store_bars(
    store: ArtifactStore, dataset_id: uuid.UUID, loaded: sources.LoadedBars
) -> DatasetUpdate:
    """Write the canonical bars as Parquet; the dataset fields that describe them."""
    frame = loaded.frame
    checksum = bars_checksum(frame)
    with tempfile.TemporaryDirectory(prefix="tradeopt-ingest-") as tmp:
        path = Path(tmp) / "bars.parquet"
        write_bars_parquet(frame, path)
        info = store.put_file(bars_key(dataset_id), path, content_type=PARQUET)
    timestamps = frame["timestamp"]
    meta = {**loaded.meta, "file_size": info.size}
    # from the dates all symbols share (252 when none: still a valid dataset), without a panel
    meta["bars_per_year"] = bars_per_year_of_bars(frame)
    meta["rows_per_symbol"] = {str(k): int(v) for k, v in frame.groupby("symbol").size().items()}
    return DatasetUpdate(
        symbols=sorted(frame["symbol"].astype(str).unique().tolist()),
        start=timestamps.min().to_pydatetime(),
        end=timestamps.max().to_pydatetime(),
        rows=len(frame),
        checksum=checksum,
        file_checksum=info.sha256,
        storage_key=bars_key(dataset_id),
        meta=meta,
    )


def manifest_of(dataset: Dataset) -> DatasetManifest:
    """The manifest other services read for a dataset whose bars are stored."""
    meta = dataset.meta or {}
    return DatasetManifest(
        id=dataset.id,
        name=dataset.name,
        symbols=list(dataset.symbols),
        timeframe=dataset.timeframe,
        start=dataset.start,
        end=dataset.end,
        rows=int(dataset.rows or 0),
        checksum=dataset.checksum or "",
        bars_key=bars_key(dataset.id),
        bars_per_year=float(meta.get("bars_per_year", 252.0)),
        price_for_returns=str(meta.get("price_for_returns", "adj_close")),
        meta={k: meta[k] for k in ("adjusted_prices", "price_for_fills") if k in meta},
    )


async def get_dataset(session: AsyncSession, dataset_id: uuid.UUID) -> Dataset:
    """The dataset, or :class:`DatasetNotFound`."""
    return await DatasetRepository(session).get_or_raise(dataset_id)


async def list_datasets(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[Dataset]:
    """Datasets, newest first; ``filters``: ``status`` (see :meth:`RepositoryBase.page`). Rows come
    without the stored creation ``request``, which no list shows (one JSON document less to decode
    per row).
    """
    return await DatasetRepository(session).page(
        limit=limit, cursor=cursor, options=[defer(Dataset.request)], **filters
    )


async def rename_dataset(session: AsyncSession, dataset_id: uuid.UUID, name: str) -> Dataset:
    """Give a dataset another name (its bars, checksum and references are unchanged)."""
    dataset = await DatasetRepository(session).get_or_raise(dataset_id, for_update=True)
    dataset.name = name
    await session.flush()
    return dataset


async def delete_dataset(
    session: AsyncSession, store: ArtifactStore, dataset_id: uuid.UUID
) -> None:
    """Delete a dataset and, after commit, its objects. A queued ingest is canceled first; a
    running one is a 409 (cancel its job, then delete), and so is a dataset that a run, model or
    evaluation still references (``core.resource_reference``).
    """
    repo = DatasetRepository(session)
    dataset = await repo.get_or_raise(dataset_id, for_update=True)
    users = await guard_deletion(session, RESOURCE, dataset_id)
    if users:
        listed = ", ".join(f"{r.type} {r.id}" for r in users)
        raise DatasetStateConflict(
            f"dataset {dataset_id} is still used by {listed}; delete those first",
            referrers=[{"type": r.type, "id": str(r.id)} for r in users],
        )
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
    await record_deletion(session, RESOURCE, dataset_id, referrer=False)
    await delete_prefix_after_commit(session, store, dataset_prefix(dataset_id))


async def update_dataset(
    session: AsyncSession, dataset_id: uuid.UUID, values: DatasetUpdate
) -> Dataset:
    """Record what an ingest job stored (the typed updater of :data:`DATASET`)."""
    if not await DATASET.update(session, dataset_id, values):
        raise DatasetNotFound(f"dataset {dataset_id} does not exist")
    return await get_dataset(session, dataset_id)


async def enqueue_feature_build(
    session: AsyncSession,
    dispatcher: Dispatcher,
    dataset: Dataset,
    spec: dict[str, Any],
    *,
    created_by: str | None,
    max_attempts: int,
) -> Job:
    """A ``data.build_features`` job computing and caching ``spec`` for ``dataset``."""
    return await jobs.create_job(
        session,
        dispatcher,
        TaskName.DATA_BUILD_FEATURES,
        params={"dataset_id": str(dataset.id), "spec": spec},
        resource_type=RESOURCE,
        resource_id=dataset.id,
        max_attempts=max_attempts,
        created_by=created_by,
    )
