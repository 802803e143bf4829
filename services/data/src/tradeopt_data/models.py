"""ORM of the data service (schema ``data``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin


class DatasetStatus(StrEnum):
    """Lifecycle of a dataset; follows its ingest job until the bars are stored."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    CANCELED = "canceled"


class Dataset(IdMixin, TimestampMixin, Base):
    """Bars of one or more symbols stored as Parquet at ``datasets/{id}/bars.parquet``."""

    __tablename__ = "dataset"
    __table_args__ = {"schema": "data"}

    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=DatasetStatus.QUEUED, index=True)
    symbols: Mapped[list[str]] = mapped_column(JSON, default=list)
    timeframe: Mapped[str] = mapped_column(String(16), default="1d")
    start: Mapped[datetime | None] = mapped_column()
    end: Mapped[datetime | None] = mapped_column()
    rows: Mapped[int | None] = mapped_column()
    checksum: Mapped[str | None] = mapped_column(String(64))
    file_checksum: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
