"""Request and response models of the strategy service."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeopt_ml.paper import RiskLimits

Part = Literal["train", "validation", "test"]
State = Literal["active", "paused", "stopped"]
#: Bar sizes the Alpaca feed can pull (Alpaca's timeframe notation).
FeedTimeframe = Literal["1Min", "5Min", "15Min", "30Min", "1Hour", "1Day"]


class StrategyCreate(BaseModel):
    """``POST /api/v1/strategies``: promote a registered model with an evaluation on record."""

    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID
    name: str | None = Field(None, min_length=1, max_length=128)
    symbol: str | None = Field(
        None, min_length=1, max_length=32, description="One symbol (must be the model's)."
    )
    symbols: list[str] | None = Field(
        None, min_length=1, max_length=20, description="The model's symbols, in its order."
    )
    risk: RiskLimits = Field(default_factory=RiskLimits)

    @model_validator(mode="after")
    def _one_way(self) -> StrategyCreate:
        if self.symbol is not None and self.symbols is not None:
            raise ValueError("give 'symbol' or 'symbols', not both")
        return self


class StrategyUpdate(BaseModel):
    """``PATCH /api/v1/strategies/{id}``: state, risk limits, name."""

    model_config = ConfigDict(extra="forbid")

    state: State | None = None
    risk: RiskLimits | None = None
    name: str | None = Field(None, min_length=1, max_length=128)


class StrategyRead(BaseModel):
    """A strategy."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str | None
    model_id: uuid.UUID
    evaluation_id: uuid.UUID
    algorithm: str
    symbols: list[str]
    action_space: str
    window: int
    risk: dict[str, Any]
    state: str
    created_at: datetime
    updated_at: datetime


class Bar(BaseModel):
    """One OHLCV bar (``t``: ISO 8601, read as UTC)."""

    model_config = ConfigDict(extra="forbid")

    t: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    adj_close: float | None = None

    @field_validator("open", "high", "low", "close", "volume", "adj_close")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SignalRequest(BaseModel):
    """``POST /api/v1/strategies/{id}/signal``: recent bars, oldest first."""

    model_config = ConfigDict(extra="forbid")

    bars: list[Bar] = Field(min_length=1, max_length=100_000)
    position: float = Field(
        0.0, ge=-10, le=10, description="The weight held now (the policy observes it)."
    )


class SignalRead(BaseModel):
    """A deterministic decision at the close of the last bar."""

    strategy_id: uuid.UUID
    model_id: uuid.UUID
    symbol: str
    as_of: datetime
    target_position: float
    action: str
    raw_action: Any
    allowed: bool
    reason: str | None


class PaperSessionCreate(BaseModel):
    """``POST /api/v1/paper-sessions``: a replay over a dataset's split part or date range
    (a job), or a live session fed with ``POST …/{id}/bars`` (``feed: push``) or by the bar
    feed from Alpaca's market data (``feed: alpaca``).
    """

    model_config = ConfigDict(extra="forbid")

    strategy_id: uuid.UUID
    mode: Literal["replay", "live"] = "replay"
    dataset_id: uuid.UUID | None = None
    split: Part | None = None
    start: datetime | None = None
    end: datetime | None = None
    speed: Literal["max"] | float = Field(
        "max", description='"max" (as fast as possible) or bars per second (> 0, <= 100000)'
    )
    cost_bps: float | None = Field(None, ge=0, le=1000)
    slippage_bps: float | None = Field(None, ge=0, le=1000)
    broker: Literal["simulated", "alpaca"] = Field(
        "simulated",
        description="live sessions: 'alpaca' also sends every order to Alpaca's paper API "
        "(ALPACA_* settings); bad credentials halt the session",
    )
    feed: Literal["push", "alpaca"] = Field(
        "push",
        description="live sessions: where bars come from. 'push' (POST …/{id}/bars) or 'alpaca' "
        "(the bar feed pulls each new complete bar from Alpaca's market-data API; ALPACA_* "
        "settings; bad credentials halt the session)",
    )
    feed_timeframe: FeedTimeframe | None = Field(
        None, description="the 'alpaca' feed's bar size (Alpaca's notation); default '1Day'"
    )

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str | float) -> str | float:
        if not isinstance(value, str) and not (0 < value <= 100_000):
            raise ValueError("speed must be 'max' or in (0, 100000] bars per second")
        return value

    @model_validator(mode="after")
    def _bars(self) -> PaperSessionCreate:
        if self.mode == "replay":
            if self.dataset_id is None:
                raise ValueError("a replay needs 'dataset_id'")
            if self.split is not None and (self.start is not None or self.end is not None):
                raise ValueError("give either 'split' or 'start'/'end', not both")
            if self.start is not None and self.end is not None and self.start >= self.end:
                raise ValueError("'start' must be before 'end'")
            if self.split is None and self.start is None and self.end is None:
                self.split = "test"
        elif self.dataset_id is not None or self.split or self.start or self.end:
            raise ValueError("a live session takes no dataset range: push its bars")
        if self.broker != "simulated" and self.mode != "live":
            raise ValueError("a replay runs on the simulated broker; 'broker' is for live sessions")
        if self.feed != "push" and self.mode != "live":
            raise ValueError("a replay reads its dataset; 'feed' is for live sessions")
        if self.feed_timeframe is not None and self.feed == "push":
            raise ValueError("'feed_timeframe' is for a pulled feed ('feed': 'alpaca')")
        if self.feed != "push" and self.feed_timeframe is None:
            self.feed_timeframe = "1Day"
        return self


class PaperSessionRead(BaseModel):
    """A paper session and its book (DESIGN §3.1: ``{status, equity, position, pnl,
    n_orders, ...}``).
    """

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    strategy_id: uuid.UUID
    model_id: uuid.UUID
    symbols: list[str]
    mode: str
    broker: str
    feed: str = "push"
    feed_timeframe: str | None = None
    feed_error: str | None = None
    feed_polled_at: datetime | None = None
    status: str
    dataset_id: uuid.UUID | None
    part: str | None
    start: datetime | None
    end: datetime | None
    speed: float | None
    cost_bps: float | None
    slippage_bps: float | None
    job_id: uuid.UUID | None
    error: str | None
    halt_reason: str | None
    halted_at: datetime | None
    initial_cash: float | None
    equity: float | None
    cash: float | None
    drawdown: float
    position: list[float]
    units: list[float]
    realised_pnl: float
    unrealised_pnl: float
    n_bars: int
    n_orders: int
    n_rejected: int
    last_t: datetime | None
    created_at: datetime
    finished_at: datetime | None
    pnl: float | None = None

    @model_validator(mode="after")
    def _pnl(self) -> PaperSessionRead:
        if self.equity is not None and self.initial_cash is not None:
            self.pnl = self.equity - self.initial_cash
        return self


class LiveBarResult(BaseModel):
    """What a pushed bar did: the pending order it filled and the decision at its close."""

    session: PaperSessionRead
    filled: dict[str, Any] | None
    decision: dict[str, Any] | None


class HaltAll(BaseModel):
    """``POST /api/v1/strategies/halt-all``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("kill switch", min_length=1, max_length=500)


class HaltAllRead(BaseModel):
    """Sessions told to flatten and halt."""

    halted: list[uuid.UUID]
    reason: str
