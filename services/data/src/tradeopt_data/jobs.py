"""The bodies of the data service's jobs (``data.ingest_bars``, ``data.build_features``).

Registered by kind (:func:`~tradeopt_common.jobs.runner.job_function`) for the worker's Celery
tasks (:mod:`tradeopt_data.tasks`) and for in-process runs. They touch the database only through
:mod:`tradeopt_data.service`; the dataset's status follows
the ingest job through the declared binding (:data:`tradeopt_data.service.DATASET`), so a body
only loads, validates, stores and records what it stored.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from tradeopt_common.contracts.datasets import write_manifest
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobContext, job_function
from tradeopt_data import service, sources
from tradeopt_data.models import Dataset


def _load(ctx: JobContext, dataset: Dataset, tmp: Path) -> sources.LoadedBars:
    request = dataset.request
    source = request.get("source")
    if source == "sample":
        chosen = request["symbol"]
        symbols = list(chosen) if isinstance(chosen, list) else [chosen]
        return sources.load_sample_bars(symbols)
    if source == "synthetic":
        return sources.load_synthetic(request)
    if source == "yahoo":
        return sources.load_provider(request)
    if source == "upload":
        path = tmp / "upload.bin"
        ctx.store.download_file(request["upload_key"], path)
        ctx.progress(0.2, "validating the upload", force=True)
        return sources.load_upload(
            path,
            filename=request.get("filename"),
            content_type=request.get("content_type"),
            symbol=request.get("symbol"),
            repairs=list(request.get("repair") or []),
            min_rows=int(request.get("min_rows") or service.DEFAULT_MIN_ROWS),
        )
    raise ValidationFailed(f"unsupported source {source!r}")


@job_function(TaskName.DATA_INGEST_BARS)
def ingest(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``data.ingest_bars``: load, validate, store Parquet, record metadata.

    Idempotent: the object key is deterministic and overwritten on a retry.
    """
    dataset_id = uuid.UUID(ctx.params["dataset_id"])
    dataset = ctx.db(lambda s: service.get_dataset(s, dataset_id))
    upload = dataset.request.get("upload_key")
    if dataset.checksum is not None:  # stored by an attempt that died before the job ended
        write_manifest(ctx.store, service.manifest_of(dataset))
        if upload:
            ctx.store.delete(upload)
        return {"dataset_id": str(dataset_id), "rows": dataset.rows, "checksum": dataset.checksum}
    ctx.progress(0.1, f"loading bars ({dataset.source})", force=True)
    with tempfile.TemporaryDirectory(prefix="tradeopt-ingest-") as tmp:
        loaded = _load(ctx, dataset, Path(tmp))
    ctx.progress(0.5, f"validating {len(loaded.frame)} bars")
    max_rows = int(dataset.request.get("max_rows") or service.DEFAULT_MAX_ROWS)
    loaded = sources.finalize(loaded, max_rows=max_rows)
    ctx.check()
    ctx.progress(0.7, "writing parquet")
    values = service.store_bars(ctx.store, dataset_id, loaded)
    ctx.check()
    stored = ctx.db(lambda s: service.update_dataset(s, dataset_id, values))
    write_manifest(ctx.store, service.manifest_of(stored))
    if upload:  # only once the dataset is committed: a retry before this still finds it
        ctx.store.delete(upload)
    return {"dataset_id": str(dataset_id), "rows": values["rows"], "checksum": values["checksum"]}


@job_function(TaskName.DATA_BUILD_FEATURES)
def build_features(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``data.build_features``: compute the feature set once and cache it in object
    storage under the spec's hash (a retry finds it cached).
    """
    from tradeopt_data import reads  # the read side imports the heavy feature library lazily

    dataset_id = uuid.UUID(ctx.params["dataset_id"])
    dataset = ctx.db(lambda s: service.get_dataset(s, dataset_id))
    spec = reads.parse_spec(ctx.params.get("spec"))
    ctx.progress(0.1, "computing features", force=True)
    features, cached = reads.load_or_build_features(ctx.store, dataset, spec)
    ctx.progress(0.9, "cached" if cached else "stored")
    return {
        "dataset_id": str(dataset_id),
        "spec_hash": spec.hash(),
        "key": reads.features_key(dataset_id, spec.hash()),
        "columns": list(features.columns),
        "warmup": features.warmup,
        "cached": cached,
    }
