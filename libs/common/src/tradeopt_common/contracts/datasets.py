"""The stored form of a ready dataset, as every other service reads it (DESIGN §7).

The data service writes ``datasets/{id}/bars.parquet`` and then ``datasets/{id}/manifest.json``
(this model). A manifest exists only for a dataset whose bars are complete and validated, so other
services (training, evaluation, strategy) check a dataset by reading its manifest — no call into
the data service's database, and no object key built from user text (ids are parsed UUIDs).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict

from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactNotFound

MANIFEST_VERSION = 1


def assume_utc(value: datetime) -> datetime:
    """``value`` with UTC attached when it is naive (naive instants are UTC, DESIGN §3); an
    aware value is returned as it is.
    """
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return assume_utc(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bars_key(dataset_id: uuid.UUID) -> str:
    """Object key of a dataset's bars."""
    return f"datasets/{dataset_id}/bars.parquet"


def manifest_key(dataset_id: uuid.UUID) -> str:
    """Object key of a dataset's manifest."""
    return f"datasets/{dataset_id}/manifest.json"


class DatasetManifest(BaseModel):
    """What a consumer needs to know about a ready dataset."""

    def bars_per_symbol(self) -> int:
        """Bars of one symbol (rows are stored long: one per bar and symbol)."""
        return self.rows // max(1, len(self.symbols))

    def outside(self, when: date | datetime) -> bool:
        """Whether ``when`` lies outside the dataset's first..last bar (a date counts as its
        midnight UTC, a naive date-time as UTC).
        """
        instant = when if isinstance(when, datetime) else datetime.combine(when, time(), UTC)
        return not (assume_utc(self.start) <= assume_utc(instant) <= assume_utc(self.end))

    def split_dates_outside(self, split: Any) -> list[str]:
        """The date bounds of a split spec (``train_end``, ``validation_end``; a run's
        ``split`` or an evaluation's ``split_spec``) that lie outside the dataset's bars.
        """
        names = ("train_end", "validation_end")
        return [n for n in names if (b := getattr(split, n)) is not None and self.outside(b)]

    def span(self) -> str:
        """``first .. last`` bar, ISO 8601 UTC, for error messages."""
        return f"{_iso(self.start)} .. {_iso(self.end)}"

    model_config = ConfigDict(extra="ignore")

    version: int = MANIFEST_VERSION
    id: uuid.UUID
    name: str
    symbols: list[str]
    timeframe: str
    start: datetime
    end: datetime
    rows: int
    checksum: str
    bars_key: str
    bars_per_year: float
    price_for_returns: str
    meta: dict[str, Any] = {}


def write_manifest(store: ArtifactStore, manifest: DatasetManifest) -> None:
    """Publish a manifest (after the bars it describes are stored)."""
    store.put_bytes(
        manifest_key(manifest.id),
        manifest.model_dump_json().encode(),
        content_type="application/json",
    )


def read_manifest(store: ArtifactStore, dataset_id: uuid.UUID) -> DatasetManifest | None:
    """The manifest of a ready dataset, or ``None`` when there is none (unknown or not ready)."""
    try:
        raw = store.get_bytes(manifest_key(dataset_id))
    except ArtifactNotFound:
        return None
    return DatasetManifest.model_validate(json.loads(raw))
