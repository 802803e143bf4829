"""Request and response models of the data service."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradeopt_ml.data import SAMPLE_SYMBOLS

SampleSymbol = StrEnum("SampleSymbol", {s: s for s in SAMPLE_SYMBOLS})  # type: ignore[misc]


class DatasetCreateSample(BaseModel):
    """Ingest one of the bundled real daily samples."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["sample"]
    symbol: SampleSymbol = Field(description="One of " + ", ".join(SAMPLE_SYMBOLS))  # type: ignore[valid-type]
    name: str | None = Field(default=None, min_length=1, max_length=200)


#: The body of ``POST /api/v1/datasets`` (more sources arrive with the data-service issue).
DatasetCreate = DatasetCreateSample


class DatasetRead(BaseModel):
    """A dataset (DESIGN §3.1)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    source: str
    status: str
    symbols: list[str]
    timeframe: str
    start: datetime | None
    end: datetime | None
    rows: int | None
    checksum: str | None
    file_checksum: str | None
    meta: dict[str, Any]
    error: str | None
    job_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
