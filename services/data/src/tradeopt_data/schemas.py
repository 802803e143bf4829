"""Request and response models of the data service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeopt_ml.data import SAMPLE_SYMBOLS
from tradeopt_ml.instants import UtcDateTime, UtcEndDateTime

SampleSymbol = StrEnum("SampleSymbol", {s: s for s in SAMPLE_SYMBOLS})  # type: ignore[misc]

#: Ticker-like symbols; never used to build object keys (those come from ids only).
SYMBOL_PATTERN = r"^[A-Za-z0-9.\-_^=]{1,32}$"
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN)]
#: Free text stored in PostgreSQL, which cannot hold NUL characters.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]

#: Explicit repairs an upload may ask for (applied in this order; reported).
Repair = Literal["sort", "drop_duplicates", "ffill"]


class DatasetCreateSample(BaseModel):
    """A bundled real daily sample (``"symbol": "SPY"``), or several aligned on the dates they
    all have (``"symbol": ["SPY", "TLT"]``).
    """

    model_config = ConfigDict(extra="forbid")

    source: Literal["sample"]
    symbol: SampleSymbol | list[SampleSymbol] = Field(  # type: ignore[valid-type]
        description="One of " + ", ".join(SAMPLE_SYMBOLS) + ", or a list of them"
    )
    name: Name | None = None

    @field_validator("symbol")
    @classmethod
    def _distinct(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one symbol")
            if len(set(value)) != len(value):
                raise ValueError("symbols must not repeat")
        return value

    def symbol_list(self) -> list[str]:
        """The requested symbols, in request order."""
        chosen = self.symbol if isinstance(self.symbol, list) else [self.symbol]
        return [str(s.value) for s in chosen]


class DatasetCreateSynthetic(BaseModel):
    """Seeded synthetic bars: geometric Brownian motion, regime switching or jump diffusion."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["synthetic"]
    kind: Literal["gbm", "regime", "jump"] = "gbm"
    symbols: list[Symbol] = Field(default_factory=lambda: ["SYN"], min_length=1, max_length=50)
    bars: int = Field(default=2000, ge=30, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    start: date = date(2000, 1, 3)
    frequency: Literal["1d", "1h", "1min"] = "1d"
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Generator parameters: gbm {mu, sigma, s0, correlation, volume}; regime "
        "{regime_mu, regime_sigma, transition, initial}; jump {mu, sigma, intensity, jump_mean, "
        "jump_std}",
    )
    name: Name | None = None


class DatasetCreateProvider(BaseModel):
    """Daily bars from an online provider (Yahoo Finance); fails clearly without network."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["yahoo"]
    symbol: Symbol
    start: date
    end: date | None = None
    interval: Literal["1d", "1h"] = "1d"
    name: Name | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DatasetCreateProvider:
        if self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


#: The JSON body of ``POST /api/v1/datasets`` (uploads are multipart, see the route).
DatasetCreate = Annotated[
    DatasetCreateSample | DatasetCreateSynthetic | DatasetCreateProvider,
    Field(discriminator="source"),
]


class DatasetUpdate(BaseModel):
    """``PATCH /api/v1/datasets/{id}``: rename (the bars never change)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


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


class BarRead(BaseModel):
    """One bar (prices as stored: raw OHLC, ``adj_close`` for returns)."""

    symbol: str
    t: datetime
    open: float
    high: float
    low: float
    close: float
    adj_close: float
    volume: float


class BarsPage(BaseModel):
    """A page of bars, oldest first within each symbol."""

    items: list[BarRead]
    next_cursor: str | None
    total: int


class FeaturePreviewRequest(BaseModel):
    """Compute (or read from the cache) a feature set and show some of its rows."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any] | None = Field(
        default=None, description="A FeatureSpec ({'features': [{name, params}]}); default set"
    )
    symbol: Symbol | None = None
    start: UtcDateTime | None = None
    end: UtcEndDateTime | None = None
    limit: int = Field(default=20, ge=1, le=1000)
    normalize_train_end: UtcEndDateTime | None = Field(
        default=None,
        description="Normalise with statistics fitted on bars up to this time only",
    )


class FeatureBuildRequest(BaseModel):
    """Build and cache a feature set as a job."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any] | None = None
