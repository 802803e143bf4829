"""ORM of the strategy service (schema ``strategy``).

A :class:`Strategy` is a registered, evaluated model with symbols and risk limits. A
:class:`PaperSession` runs it on bars (a replay job over a dataset range, or live bars pushed
over the API); every processed decision bar is a :class:`PaperBar` (unique per session and
timestamp: a retried or duplicated bar never yields a second order), with its
:class:`PaperOrder` and :class:`PaperFill`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin, utcnow

SCHEMA = "strategy"


class StrategyState(StrEnum):
    """A strategy is active (signals, new sessions), paused (no new sessions) or stopped."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class SessionStatus(StrEnum):
    """Lifecycle of a paper session. A replay follows its job (``completed`` when it ran to the
    end of its range); ``halted`` by a risk limit or the kill switch (flat), ``stopped`` on
    request.
    """

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    HALTED = "halted"
    STOPPED = "stopped"


LIVE_STATUSES = (SessionStatus.QUEUED, SessionStatus.RUNNING, SessionStatus.WAITING)


class Strategy(IdMixin, TimestampMixin, Base):
    """A model promoted to a strategy (it had an evaluation on record)."""

    __tablename__ = "strategy"
    __table_args__ = {"schema": SCHEMA}

    name: Mapped[str | None] = mapped_column(String(128))
    model_id: Mapped[uuid.UUID] = mapped_column(index=True)
    evaluation_id: Mapped[uuid.UUID] = mapped_column()
    algorithm: Mapped[str] = mapped_column(String(16))
    symbols: Mapped[list[str]] = mapped_column(JSON)
    action_space: Mapped[str] = mapped_column(String(16))
    window: Mapped[int] = mapped_column()
    risk: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=StrategyState.ACTIVE, index=True)
    created_by: Mapped[str | None] = mapped_column(String(64))


class PaperSession(IdMixin, TimestampMixin, Base):
    """One paper-trading run of a strategy; the book's latest state is kept here."""

    __tablename__ = "paper_session"
    __table_args__ = {"schema": SCHEMA}

    strategy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.strategy.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[uuid.UUID] = mapped_column()
    symbols: Mapped[list[str]] = mapped_column(JSON, default=list)
    mode: Mapped[str] = mapped_column(String(8))
    #: ``simulated`` (the execution model) or ``alpaca`` (live sessions: every order is also
    #: sent to Alpaca's paper API; the book stays the simulated one).
    broker: Mapped[str] = mapped_column(String(16), default="simulated")
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.QUEUED, index=True)
    #: Live sessions: where bars come from, ``push`` (``POST …/bars``) or ``alpaca`` (pulled from
    #: Alpaca's market-data API by the feed process, :mod:`tradeopt_strategy.feed`).
    feed: Mapped[str] = mapped_column(String(16), default="push", server_default="push")
    #: The feed's bar timeframe (Alpaca's notation, ``1Day``); None for pushed bars.
    feed_timeframe: Mapped[str | None] = mapped_column(String(8))
    #: The feed's latest problem while it retries (provider down, a refused bar); None once a
    #: poll succeeds.
    feed_error: Mapped[str | None] = mapped_column(Text)
    #: When the feed last asked the provider for this session's bars.
    feed_polled_at: Mapped[datetime | None] = mapped_column()
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    dataset_checksum: Mapped[str | None] = mapped_column(String(64))
    part: Mapped[str | None] = mapped_column(String(16))
    start: Mapped[datetime | None] = mapped_column()
    end: Mapped[datetime | None] = mapped_column()
    speed: Mapped[float | None] = mapped_column()
    cost_bps: Mapped[float | None] = mapped_column()
    slippage_bps: Mapped[float | None] = mapped_column()
    risk: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column()
    stop_requested: Mapped[bool] = mapped_column(default=False)
    halt_requested: Mapped[str | None] = mapped_column(Text)
    halt_reason: Mapped[str | None] = mapped_column(Text)
    halted_at: Mapped[datetime | None] = mapped_column()
    initial_cash: Mapped[float | None] = mapped_column()
    equity: Mapped[float | None] = mapped_column()
    cash: Mapped[float | None] = mapped_column()
    peak: Mapped[float | None] = mapped_column()
    drawdown: Mapped[float] = mapped_column(default=0.0)
    position: Mapped[list[float]] = mapped_column(JSON, default=list)
    units: Mapped[list[float]] = mapped_column(JSON, default=list)
    realised_pnl: Mapped[float] = mapped_column(default=0.0)
    unrealised_pnl: Mapped[float] = mapped_column(default=0.0)
    n_bars: Mapped[int] = mapped_column(default=0)
    n_orders: Mapped[int] = mapped_column(default=0)
    n_rejected: Mapped[int] = mapped_column(default=0)
    last_t: Mapped[datetime | None] = mapped_column()
    #: Live mode: the decision taken at ``last_t``'s close, filled by the next bar.
    pending: Mapped[dict[str, Any] | None] = mapped_column()
    #: The broker's positions (units per symbol) as last reported (Alpaca sessions).
    broker_positions: Mapped[dict[str, float] | None] = mapped_column(JSON)
    parity: Mapped[dict[str, Any] | None] = mapped_column()


class PaperBar(IdMixin, Base):
    """One processed decision bar (the decision, its fill, the book marked after it)."""

    __tablename__ = "paper_bar"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_paper_bar_session_seq"),
        UniqueConstraint("session_id", "t", name="uq_paper_bar_session_t"),
        {"schema": SCHEMA},
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.paper_session.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column()
    t: Mapped[datetime] = mapped_column()
    fill_t: Mapped[datetime] = mapped_column()
    mark_t: Mapped[datetime] = mapped_column()
    #: Plain JSON (not JSONB): written once per bar, read back whole, never queried inside.
    applied: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[list[float]] = mapped_column(JSON)
    traded: Mapped[list[float]] = mapped_column(JSON)
    units: Mapped[list[float]] = mapped_column(JSON)
    weights: Mapped[list[float]] = mapped_column(JSON)
    cost: Mapped[float] = mapped_column()
    cash: Mapped[float] = mapped_column()
    value: Mapped[float] = mapped_column()
    drawdown: Mapped[float] = mapped_column()
    realised_pnl: Mapped[float] = mapped_column()
    unrealised_pnl: Mapped[float] = mapped_column()


class LiveBar(IdMixin, Base):
    """A bar pushed to a live session (its history for features), unique per timestamp."""

    __tablename__ = "live_bar"
    __table_args__ = (
        UniqueConstraint("session_id", "t", name="uq_live_bar_session_t"),
        {"schema": SCHEMA},
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.paper_session.id", ondelete="CASCADE")
    )
    t: Mapped[datetime] = mapped_column()
    open: Mapped[float] = mapped_column()
    high: Mapped[float] = mapped_column()
    low: Mapped[float] = mapped_column()
    close: Mapped[float] = mapped_column()
    adj_close: Mapped[float] = mapped_column()
    volume: Mapped[float] = mapped_column()


class PaperOrder(IdMixin, TimestampMixin, Base):
    """An order decided at bar ``t``'s close (one per session, bar and symbol).

    Indexes are only what reads use (a replay writes one order per traded bar): the unique
    ``(session_id, t, symbol)`` also serves lookups by session; ``created_at`` is not indexed.
    """

    __tablename__ = "paper_order"
    __table_args__ = (
        UniqueConstraint("session_id", "t", "symbol", name="uq_paper_order_session_t_symbol"),
        {"schema": SCHEMA},
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.paper_session.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column()
    t: Mapped[datetime] = mapped_column()
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str | None] = mapped_column(String(4))
    quantity: Mapped[float] = mapped_column()
    target_weight: Mapped[float] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    broker_status: Mapped[str | None] = mapped_column(String(32))
    #: The broker's fill report (Alpaca sessions): filled quantity and average price.
    broker_filled_qty: Mapped[float | None] = mapped_column()
    broker_fill_price: Mapped[float | None] = mapped_column()


class PaperFill(IdMixin, TimestampMixin, Base):
    """The fill of an order (simulated broker: the env's execution model); ``created_at`` is
    not indexed (no read orders or filters fills by it).
    """

    __tablename__ = "paper_fill"
    __table_args__ = {"schema": SCHEMA}

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.paper_order.id", ondelete="CASCADE"), unique=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column()
    t: Mapped[datetime] = mapped_column()
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[float] = mapped_column()
    price: Mapped[float] = mapped_column()
    fill_price: Mapped[float] = mapped_column()
    commission: Mapped[float] = mapped_column()
    slippage: Mapped[float] = mapped_column()
