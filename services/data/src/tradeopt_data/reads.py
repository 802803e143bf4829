"""Read side of a stored dataset: bars pages, summary, splits, features (no FastAPI, no Celery).

Bars are read from object storage once per process and kept in a small cache keyed by the
dataset id and its checksum (a re-ingested dataset gets a new checksum, so stale entries are never
served).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import tempfile
import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from tradeopt_common.errors import ValidationFailed
from tradeopt_common.storage import ArtifactStore
from tradeopt_data.errors import DatasetStateConflict
from tradeopt_data.models import Dataset, DatasetStatus
from tradeopt_ml.data import Panel, read_bars_parquet
from tradeopt_ml.data.splits import FoldSpec, SplitSpec, make_splits, walk_forward
from tradeopt_ml.data.summary import summarize
from tradeopt_ml.features import FeatureSet, FeatureSpec, Normalizer, compute_features

PARQUET = "application/vnd.apache.parquet"
#: Bytes of bar frames one process keeps (least recently used first out); a frame larger than
#: this alone is never cached. Sized for the data API's 1 GiB memory limit.
CACHE_BYTES = 256 * 1024 * 1024
_cache: OrderedDict[tuple[uuid.UUID, str], pd.DataFrame] = OrderedDict()
_cache_sizes: dict[tuple[uuid.UUID, str], int] = {}
_cache_lock = threading.Lock()
#: Datasets with more rows than this are read from storage one at a time per process, so the
#: API's peak is the cache plus one such read (tests/deploy/test_limits.py sizes the row cap
#: against the data API's memory this way); smaller ones load concurrently.
LARGE_LOAD_ROWS = 250_000
_large_load = threading.Lock()


def require_ready(dataset: Dataset) -> None:
    """409 unless the dataset's bars are stored."""
    if dataset.status != DatasetStatus.READY or not dataset.storage_key:
        raise DatasetStateConflict(
            f"dataset {dataset.id} is {dataset.status}; its bars are available once it is ready"
        )


def load_frame(store: ArtifactStore, dataset: Dataset) -> pd.DataFrame:
    """The dataset's canonical bars (cached per process; callers must not mutate the frame)."""
    require_ready(dataset)
    key = (dataset.id, dataset.checksum or "")
    cached = _cached(key)
    if cached is not None:
        return cached
    if (dataset.rows or 0) <= LARGE_LOAD_ROWS:
        return _load(store, dataset, key)
    with _large_load:  # one large read at a time; a wait may find the frame cached
        cached = _cached(key)
        return cached if cached is not None else _load(store, dataset, key)


def _cached(key: tuple[uuid.UUID, str]) -> pd.DataFrame | None:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    return None


def _load(store: ArtifactStore, dataset: Dataset, key: tuple[uuid.UUID, str]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="tradeopt-bars-") as tmp:
        path = Path(tmp) / "bars.parquet"
        store.download_file(dataset.storage_key or "", path)
        frame = read_bars_parquet(path)
    size = int(frame.memory_usage(deep=True).sum())
    if size > CACHE_BYTES:
        return frame
    with _cache_lock:
        _cache[key] = frame
        _cache_sizes[key] = size
        while sum(_cache_sizes.values()) > CACHE_BYTES:
            old, _ = _cache.popitem(last=False)
            _cache_sizes.pop(old, None)
    return frame


def cached_bytes() -> int:
    """Bytes of bar frames this process holds in its cache."""
    with _cache_lock:
        return sum(_cache_sizes.values())


def load_panel(store: ArtifactStore, dataset: Dataset, symbols: list[str] | None = None) -> Panel:
    """The dataset as an aligned panel (422 for a symbol it does not have)."""
    try:
        return Panel.from_bars(load_frame(store, dataset), symbols=symbols)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc


# ---------------------------------------------------------------------------------------------
# bars


def encode_offset(offset: int) -> str:
    """An opaque cursor for the next page of bars."""
    return base64.urlsafe_b64encode(f"bars:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    """The offset a cursor stands for (422 for a cursor this API did not issue)."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        offset = int(number)
        if prefix != "bars" or offset < 0:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("invalid cursor", errors=[_field("cursor", "invalid")]) from exc
    return offset


def _field(name: str, msg: str) -> dict[str, Any]:
    return {"loc": ["query", name], "msg": msg, "type": "value_error"}


def select_bars(
    frame: pd.DataFrame,
    *,
    symbol: str | None,
    start: datetime | None,
    end: datetime | None,
) -> pd.DataFrame:
    """Rows of one symbol (or all) between ``start`` and ``end`` inclusive, in stored order."""
    mask = np.ones(len(frame), dtype=bool)
    if symbol is not None:
        symbols = set(frame["symbol"].astype(str).unique())
        if symbol not in symbols:
            raise ValidationFailed(
                f"symbol {symbol!r} is not in this dataset ({', '.join(sorted(symbols))})",
                errors=[_field("symbol", "unknown symbol")],
            )
        mask &= (frame["symbol"] == symbol).to_numpy()
    stamps = frame["timestamp"]
    if start is not None:
        mask &= (stamps >= _utc(start)).to_numpy()
    if end is not None:
        mask &= (stamps <= _utc(end)).to_numpy()
    if start is not None and end is not None and _utc(start) > _utc(end):
        raise ValidationFailed("'start' is after 'end'", errors=[_field("start", "after end")])
    return frame.loc[mask]


def _utc(when: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bars_records(page: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON rows (``t`` in ISO 8601 UTC; floats exact: JSON keeps the shortest repr)."""
    stamps = pd.DatetimeIndex(page["timestamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    cols = {c: page[c].to_numpy(dtype=np.float64).tolist() for c in _PRICE_FIELDS}
    cols["volume"] = _volumes(page).tolist()
    symbols = page["symbol"].astype(str).tolist()
    return [
        {"symbol": symbols[i], "t": stamps[i], **{c: cols[c][i] for c in _PRICE_FIELDS}}
        for i in range(len(page))
    ]


_PRICE_FIELDS = ("open", "high", "low", "close", "adj_close", "volume")


def _volumes(page: pd.DataFrame) -> np.ndarray:
    """Volumes as integers when every one is whole (share counts, as uploaded), else floats:
    bars are stored as float64, which would turn an uploaded ``1003200`` into ``1003200.0``.
    """
    volume = page["volume"].to_numpy(dtype=np.float64)
    whole = np.isfinite(volume).all() and (np.abs(volume) < 2.0**53).all()
    if whole and (volume == np.floor(volume)).all():
        return volume.astype(np.int64)
    return volume


def bars_csv(page: pd.DataFrame) -> str:
    """CSV with a header; floats in their shortest exact form (round-trips bit for bit)."""
    out = page.loc[:, ["symbol", "timestamp", *_PRICE_FIELDS]].copy()
    out["timestamp"] = pd.DatetimeIndex(out["timestamp"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    out["volume"] = _volumes(page)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, float_format=None, lineterminator="\n")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# summary and splits


def dataset_summary(store: ArtifactStore, dataset: Dataset) -> dict[str, Any]:
    """Per-symbol statistics and calendar gaps (cached in the process with the bars)."""
    return summarize(load_frame(store, dataset))


def dataset_splits(
    store: ArtifactStore,
    dataset: Dataset,
    split: dict[str, Any],
    folds: dict[str, Any] | None,
) -> dict[str, Any]:
    """Which bars each part covers, for a split spec and optionally walk-forward folds."""
    timestamps = load_panel(store, dataset).timestamps
    try:
        spec = SplitSpec.model_validate({k: v for k, v in split.items() if v is not None})
        result: dict[str, Any] = {"bars": len(timestamps)}
        result["split"] = make_splits(timestamps, spec).as_dict()
        if folds is not None:
            fold_spec = FoldSpec.model_validate({k: v for k, v in folds.items() if v is not None})
            result["folds"] = [_fold_dict(f) for f in walk_forward(timestamps, fold_spec)]
    except ValidationError as exc:
        raise ValidationFailed("invalid split request", errors=_pydantic_errors(exc)) from exc
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    return result


def _fold_dict(fold: Any) -> dict[str, Any]:
    return {"index": fold.index, "train": fold.train.as_dict(), "test": fold.test.as_dict()}


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


# ---------------------------------------------------------------------------------------------
# features


def parse_spec(raw: dict[str, Any] | None) -> FeatureSpec:
    """A feature spec from a request body (422 naming what is wrong; default when absent)."""
    if raw is None:
        return FeatureSpec.default()
    try:
        return FeatureSpec.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("invalid feature spec", errors=_pydantic_errors(exc)) from exc


def features_key(dataset_id: uuid.UUID, spec_hash: str) -> str:
    """Object key of a cached feature set (the hash is computed, never user text)."""
    return f"datasets/{dataset_id}/features/{spec_hash}.parquet"


def load_or_build_features(
    store: ArtifactStore, dataset: Dataset, spec: FeatureSpec
) -> tuple[FeatureSet, bool]:
    """The dataset's features for ``spec``: from the cache in object storage when present
    (``True``), otherwise computed and stored (``False``).
    """
    spec_hash = spec.hash()
    key = features_key(dataset.id, spec_hash)
    if store.exists(key):
        with tempfile.TemporaryDirectory(prefix="tradeopt-features-") as tmp:
            path = Path(tmp) / "features.parquet"
            store.download_file(key, path)
            return FeatureSet.from_frame(pd.read_parquet(path)), True
    features = compute_features(load_panel(store, dataset), spec)
    with tempfile.TemporaryDirectory(prefix="tradeopt-features-") as tmp:
        path = Path(tmp) / "features.parquet"
        features.to_frame().to_parquet(path, index=False, compression="zstd")
        store.put_file(key, path, content_type=PARQUET)
    store.put_bytes(
        key.replace(".parquet", ".json"),
        json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode(),
        content_type="application/json",
    )
    return features, False


def preview_features(
    store: ArtifactStore,
    dataset: Dataset,
    spec: FeatureSpec,
    *,
    symbol: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    normalize_train_end: datetime | None,
) -> dict[str, Any]:
    """Rows of a feature set, optionally normalised with train-only statistics."""
    features, cached = load_or_build_features(store, dataset, spec)
    symbols = list(features.symbols)
    if symbol is not None and symbol not in symbols:
        raise ValidationFailed(
            f"symbol {symbol!r} is not in this dataset ({', '.join(symbols)})",
            errors=[_field("symbol", "unknown symbol")],
        )
    values = np.asarray(features.values)
    stamps = pd.DatetimeIndex(features.timestamps).tz_localize("UTC")
    normalization: dict[str, Any] | None = None
    if normalize_train_end is not None:
        train_stop = int(np.searchsorted(stamps, _utc(normalize_train_end), side="right"))
        if train_stop < 2:
            raise ValidationFailed("'normalize_train_end' leaves fewer than 2 training bars")
        normalizer = Normalizer.fit(features, (0, train_stop))
        values = normalizer.transform(features)
        normalization = {"train_bars": train_stop, "stats": normalizer.to_dict()}
    rows_mask = np.ones(len(stamps), dtype=bool)
    if start is not None:
        rows_mask &= stamps >= _utc(start)
    if end is not None:
        rows_mask &= stamps <= _utc(end)
    index = np.flatnonzero(rows_mask)[:limit]
    chosen = [symbols.index(symbol)] if symbol is not None else list(range(len(symbols)))
    rows = []
    for i in index:
        for j in chosen:
            vals = values[i, j]
            rows.append(
                {
                    "symbol": symbols[j],
                    "t": stamps[i].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "values": [None if not np.isfinite(v) else float(v) for v in vals],
                }
            )
    return {
        "dataset_id": str(dataset.id),
        "spec_hash": spec.hash(),
        "spec": spec.model_dump(mode="json"),
        "cached": cached,
        "columns": list(features.columns),
        "symbols": symbols,
        "bars": len(stamps),
        "warmup": features.warmup,
        "valid_from": features.valid_from,
        "normalization": normalization,
        "rows": rows,
    }
