"""Strategy rules and state transitions; called by routes and by the job bodies (no FastAPI,
no Celery). A replay session follows its job through :data:`PAPER_SESSION`, a declared
:class:`~tradeopt_common.jobs.resources.ResourceBinding`; live sessions have no job.

Evaluations on record are read from the shared ``core`` tables — the evaluation's resource
reference to the model and its job's status — never from the evaluation service's schema.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from sqlalchemy import JSON, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import ModelLineage, model_digests, read_lineage
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.repository import Page
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.resources import (
    Reference,
    ResourceBinding,
    create_with_job,
    register_binding,
    statuses_by_name,
)
from tradeopt_common.references import ResourceReference, add_reference
from tradeopt_common.storage import ArtifactStore
from tradeopt_ml.paper import Applied, BarRecord, PaperEngine, RiskLimits
from tradeopt_strategy.config import StrategySettings
from tradeopt_strategy.errors import (
    DuplicateBar,
    ModelNotEvaluated,
    ParityNotReady,
    SessionStateConflict,
    StrategyStateConflict,
)
from tradeopt_strategy.models import (
    LIVE_STATUSES,
    LiveBar,
    PaperBar,
    PaperFill,
    PaperOrder,
    PaperSession,
    SessionStatus,
    Strategy,
    StrategyState,
)
from tradeopt_strategy.repository import PaperSessionRepository, StrategyRepository
from tradeopt_strategy.schemas import Bar, PaperSessionCreate, StrategyCreate, StrategyUpdate

RESOURCE = "paper_session"


class PaperSessionUpdate(TypedDict, total=False):
    """The session fields its replay job writes."""

    parity: dict[str, Any]


async def _after_end(session: AsyncSession, job: Job, resource: Any) -> None:
    """A replay that halted shows ``halted``; one stopped on request shows ``stopped``."""
    if resource is None:
        return
    table = PaperSession
    await session.execute(
        update(table)
        .where(table.id == job.resource_id, table.halt_reason.is_not(None))
        .values(status=SessionStatus.HALTED)
    )
    await session.execute(
        update(table)
        .where(
            table.id == job.resource_id,
            table.halt_reason.is_(None),
            table.stop_requested.is_(True),
            table.status.in_([SessionStatus.CANCELED, SessionStatus.COMPLETED]),
        )
        .values(status=SessionStatus.STOPPED)
    )


#: A replay session follows its job (``succeeded`` → ``completed``).
PAPER_SESSION: ResourceBinding[PaperSession, PaperSessionUpdate] = register_binding(
    ResourceBinding(
        resource_type=RESOURCE,
        model=PaperSession,
        patch=PaperSessionUpdate,
        statuses=statuses_by_name(SessionStatus, succeeded=SessionStatus.COMPLETED),
        kinds=(TaskName.STRATEGY_REPLAY_SESSION,),
        finished_field="finished_at",
        after_end=_after_end,
    )
)


def _field_error(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}


# ----------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------
async def evaluation_on_record(session: AsyncSession, model_id: uuid.UUID) -> uuid.UUID | None:
    """The newest succeeded evaluation of ``model_id`` (from the shared ``core`` tables: the
    evaluation's reference to the model and its job), or None.
    """
    ref = ResourceReference
    stmt = (
        select(ref.referrer_id)
        .join(Job, (Job.resource_type == "evaluation") & (Job.resource_id == ref.referrer_id))
        .where(
            ref.resource_type == "model",
            ref.resource_id == model_id,
            ref.referrer_type == "evaluation",
            Job.status == JobStatus.SUCCEEDED,
        )
        .order_by(Job.finished_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_strategy(
    session: AsyncSession, store: ArtifactStore, body: StrategyCreate, *, created_by: str | None
) -> Strategy:
    """Promote a registered model with a succeeded evaluation on record (409 naming what is
    missing otherwise); the symbols must be the model's.
    """
    lineage = await asyncio.to_thread(read_lineage, store, body.model_id)
    if lineage is None:
        raise ValidationFailed(
            f"model {body.model_id} is not registered",
            errors=[_field_error("model_id", "unknown model")],
        )
    symbols = list(lineage.symbols)
    asked = [body.symbol] if body.symbol is not None else body.symbols
    if asked is not None and asked != symbols:
        field = "symbol" if body.symbol is not None else "symbols"
        raise ValidationFailed(
            f"the model trades {', '.join(symbols)}, not {', '.join(asked)}",
            errors=[_field_error(field, f"must be {', '.join(symbols)}")],
        )
    evaluation_id = await evaluation_on_record(session, body.model_id)
    if evaluation_id is None:
        raise ModelNotEvaluated(
            f"model {body.model_id} has no succeeded evaluation on record: evaluate it first "
            f'(POST /api/v1/evaluations {{"model_id": "{body.model_id}", "dataset_id": …}})'
        )
    strategy = Strategy(
        id=uuid.uuid4(),
        name=body.name,
        model_id=body.model_id,
        evaluation_id=evaluation_id,
        algorithm=lineage.algorithm,
        symbols=symbols,
        action_space=lineage.env.action_space,
        window=lineage.env.window,
        risk=body.risk.model_dump(mode="json"),
        state=StrategyState.ACTIVE,
        created_by=created_by,
    )
    await StrategyRepository(session).add(strategy)
    await add_reference(session, "model", body.model_id, "strategy", strategy.id)
    return strategy


async def get_strategy(session: AsyncSession, strategy_id: uuid.UUID) -> Strategy:
    """The strategy, or :class:`StrategyNotFound`."""
    return await StrategyRepository(session).get_or_raise(strategy_id)


async def list_strategies(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[Strategy]:
    """Strategies, newest first; filters ``state``, ``model_id``."""
    return await StrategyRepository(session).page(limit=limit, cursor=cursor, **filters)


async def update_strategy(
    session: AsyncSession, strategy_id: uuid.UUID, body: StrategyUpdate
) -> Strategy:
    """Change state (a stopped strategy stays stopped), risk limits or name."""
    strategy = await StrategyRepository(session).get_or_raise(strategy_id, for_update=True)
    if strategy.state == StrategyState.STOPPED and body.state not in (None, "stopped"):
        raise StrategyStateConflict(f"strategy {strategy_id} is stopped; it cannot be resumed")
    if body.state is not None:
        strategy.state = body.state
    if body.risk is not None:
        strategy.risk = body.risk.model_dump(mode="json")
    if body.name is not None:
        strategy.name = body.name
    strategy.updated_at = utcnow()
    await session.flush()
    return strategy


async def halt_all(session: AsyncSession, reason: str) -> list[uuid.UUID]:
    """The kill switch: every session still running (or about to) flattens at its next bar
    and halts with ``reason``.
    """
    rows = await session.execute(
        update(PaperSession)
        .where(PaperSession.status.in_(LIVE_STATUSES), PaperSession.halt_requested.is_(None))
        .values(halt_requested=reason, updated_at=utcnow())
        .returning(PaperSession.id)
    )
    return [r for (r,) in rows.all()]


# ----------------------------------------------------------------------------------------------
# models (loaded like the evaluation service loads them)
# ----------------------------------------------------------------------------------------------
def load_policy(lineage: ModelLineage, path: Path) -> Any:
    """The stable-baselines3 model (CPU, one thread's worth of work per call)."""
    from tradeopt_ml.agents import load_model

    return load_model(lineage.algorithm, path, device="cpu")


# ----------------------------------------------------------------------------------------------
# paper sessions
# ----------------------------------------------------------------------------------------------
async def create_session(
    session: AsyncSession,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    body: PaperSessionCreate,
    *,
    created_by: str | None,
    max_attempts: int,
) -> PaperSession:
    """Start a paper session of an active strategy: a replay job, or a live session."""
    strategy = await get_strategy(session, body.strategy_id)
    if strategy.state != StrategyState.ACTIVE:
        raise StrategyStateConflict(
            f"strategy {strategy.id} is {strategy.state}; only an active strategy trades"
        )
    lineage = await asyncio.to_thread(read_lineage, store, strategy.model_id)
    if lineage is None:
        raise StrategyStateConflict(f"the model {strategy.model_id} of the strategy is gone")
    paper = PaperSession(
        id=uuid.uuid4(),
        strategy_id=strategy.id,
        model_id=strategy.model_id,
        symbols=list(strategy.symbols),
        mode=body.mode,
        broker=body.broker,
        feed=body.feed,
        feed_timeframe=body.feed_timeframe,
        part=body.split,
        start=body.start,
        end=body.end,
        speed=None if body.speed == "max" else float(body.speed),
        cost_bps=body.cost_bps,
        slippage_bps=body.slippage_bps,
        risk=dict(strategy.risk),
        initial_cash=lineage.env.initial_cash,
        equity=lineage.env.initial_cash,
        cash=lineage.env.initial_cash,
        peak=lineage.env.initial_cash,
        position=[0.0] * len(strategy.symbols),
        units=[0.0] * len(strategy.symbols),
        created_by=created_by,
    )
    if body.mode == "live":
        paper.status = SessionStatus.RUNNING
        await PaperSessionRepository(session).add(paper)
        return paper
    assert body.dataset_id is not None
    manifest = await asyncio.to_thread(read_manifest, store, body.dataset_id)
    if manifest is None:
        raise ValidationFailed(
            f"dataset {body.dataset_id} does not exist or is not ready",
            errors=[_field_error("dataset_id", "unknown or not ready dataset")],
        )
    missing = [s for s in strategy.symbols if s not in manifest.symbols]
    if missing:
        raise ValidationFailed(
            f"dataset {body.dataset_id} has no {', '.join(missing)}",
            errors=[_field_error("dataset_id", f"must hold {', '.join(strategy.symbols)}")],
        )
    paper.dataset_id = body.dataset_id
    paper.dataset_checksum = manifest.checksum
    await create_with_job(
        session,
        dispatcher,
        PAPER_SESSION,
        paper,
        kind=TaskName.STRATEGY_REPLAY_SESSION,
        references=[Reference("dataset", body.dataset_id), Reference("model", paper.model_id)],
        max_attempts=max_attempts,
        created_by=created_by,
    )
    return paper


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> PaperSession:
    """The paper session, or :class:`PaperSessionNotFound`."""
    return await PaperSessionRepository(session).get_or_raise(session_id)


async def list_sessions(
    session: AsyncSession, *, limit: int, cursor: str | None, **filters: object
) -> Page[PaperSession]:
    """Paper sessions, newest first; filters ``status``, ``strategy_id``, ``mode``."""
    return await PaperSessionRepository(session).page(limit=limit, cursor=cursor, **filters)


async def stop_session(
    session: AsyncSession, dispatcher: Dispatcher, session_id: uuid.UUID
) -> PaperSession:
    """Stop a session: a replay's job is canceled (it stops at its next bar), a live session
    ends at once. 409 once it has ended.
    """
    repo = PaperSessionRepository(session)
    paper = await repo.get_or_raise(session_id, for_update=True)
    if paper.status not in LIVE_STATUSES:
        raise SessionStateConflict(f"paper session {session_id} is already {paper.status}")
    paper.stop_requested = True
    if paper.mode == "live" or paper.job_id is None:
        paper.status = SessionStatus.STOPPED
        paper.finished_at = utcnow()
        await session.flush()
        return paper
    await session.flush()
    await jobs.request_cancel(session, paper.job_id, dispatcher)
    await session.refresh(paper)
    return paper


async def session_control(session: AsyncSession, session_id: uuid.UUID) -> tuple[bool, str | None]:
    """``(stop_requested, halt_requested)`` of a session (a replay job reads them under the
    row lock of each batch instead, in :func:`record_bars`).
    """
    row = (
        await session.execute(
            select(PaperSession.stop_requested, PaperSession.halt_requested).where(
                PaperSession.id == session_id
            )
        )
    ).one()
    return bool(row[0]), row[1]


def _t(stamp: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(np.datetime_as_string(stamp, unit="us", timezone="UTC")))


#: Column order of the rows :func:`bar_rows` builds (the ``COPY`` column lists).
BAR_COLUMNS = (
    "id", "session_id", "seq", "t", "fill_t", "mark_t", "applied", "target", "traded", "units",
    "weights", "cost", "cash", "value", "drawdown", "realised_pnl", "unrealised_pnl",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "session_id", "seq", "t", "symbol", "side", "quantity", "target_weight", "kind",
    "status", "reason", "created_at", "updated_at",
)  # fmt: skip
FILL_COLUMNS = (
    "id", "order_id", "session_id", "seq", "t", "symbol", "quantity", "price", "fill_price",
    "commission", "slippage", "created_at", "updated_at",
)  # fmt: skip


def _uuid7_strings(n: int) -> list[str]:
    """``n`` time-ordered (version 7, RFC 9562) UUIDs as strings, in increasing order, drawn
    at once (asyncpg encodes strings): the current Unix milliseconds, then a counter over the
    batch in ``rand_a`` and the top of ``rand_b`` (RFC 9562 method 1), then 48 random bits.
    Rows of a batch thus enter the primary-key indexes at their right-hand edge, in order, not
    at random pages as version 4 ids do (less index work per row for a replay's batches).
    """
    if n >= 1 << 26:
        raise ValueError(f"{n} ids in one batch: the counter holds 2**26")
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    millis = time.time_ns() // 1_000_000
    raw[:, :6] = np.frombuffer(millis.to_bytes(6, "big"), dtype=np.uint8)
    counter = np.arange(n, dtype=np.uint32)
    high, low = counter >> 14, counter & 0x3FFF  # 12 bits in rand_a, 14 at the top of rand_b
    raw[:, 6] = 0x70 | (high >> 8).astype(np.uint8)
    raw[:, 7] = (high & 0xFF).astype(np.uint8)
    raw[:, 8] = 0x80 | (low >> 8).astype(np.uint8)
    raw[:, 9] = (low & 0xFF).astype(np.uint8)
    text = raw.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


def _stamps(values: list[np.datetime64]) -> list[datetime]:
    """Aware UTC datetimes of ``datetime64`` stamps (one vectorised conversion)."""
    index = pd.DatetimeIndex(np.asarray(values, dtype="datetime64[us]")).tz_localize(UTC)
    return list(index.to_pydatetime())


def _json_floats(values: list[float]) -> str:
    """``json.dumps`` of a list of floats (``repr`` is JSON's float format)."""
    text = f"[{values[0]!r}]" if len(values) == 1 else "[" + ",".join(map(repr, values)) + "]"
    return json.dumps(values) if "n" in text else text  # nan/inf: json's spelling


def bar_rows(
    session_id: uuid.UUID, records: Sequence[BarRecord], now: datetime | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of processed bars, as tuples in :data:`BAR_COLUMNS`, :data:`ORDER_COLUMNS`
    and :data:`FILL_COLUMNS` order, ready for a binary ``COPY`` (ids as UUID strings, JSON
    columns as JSON text): one bar row each, an order per traded (or rejected) symbol and its
    fill. Built with as little per-bar Python as possible (a replay writes tens of thousands).
    """
    now = now or utcnow()
    n = len(records)
    stamps = _stamps([r.t for r in records] + [r.fill_t for r in records] +
                     [r.mark_t for r in records])  # fmt: skip
    ids = _uuid7_strings(n + 2 * sum(len(r.symbols) for r in records))
    next_id = n
    sid = str(session_id)
    # the engine shares its few distinct (immutable) decisions between bars: one JSON text per
    # object (the records keep them alive, so their ids are not reused during this call)
    applied_json: dict[int, str] = {}
    floats = _json_floats
    bars, orders, fills = [], [], []
    for j, rec in enumerate(records):
        applied = rec.applied
        a_json = applied_json.get(id(applied))
        if a_json is None:
            a_json = applied_json[id(applied)] = json.dumps(applied.to_dict())
        t, fill_t = stamps[j], stamps[n + j]
        bars.append(
            (
                ids[j], sid, rec.seq, t, fill_t, stamps[2 * n + j], a_json,
                floats(rec.target), floats(rec.traded), floats(rec.units), floats(rec.weights),
                rec.cost, rec.cash, rec.value, rec.drawdown, rec.realised_pnl,
                rec.unrealised_pnl,
            )
        )  # fmt: skip
        kind = applied.kind
        for i, symbol in enumerate(rec.symbols):
            qty = rec.traded[i]
            if qty == 0.0 and kind != "rejected":
                continue
            order_id = ids[next_id]
            next_id += 1
            orders.append(
                (
                    order_id, sid, rec.seq, t, symbol,
                    None if qty == 0.0 else ("buy" if qty > 0 else "sell"), abs(qty),
                    rec.target[i], kind, "rejected" if kind == "rejected" else "filled",
                    applied.reason, now, now,
                )
            )  # fmt: skip
            if qty != 0.0:
                fills.append(
                    (
                        ids[next_id], order_id, sid, rec.seq, fill_t, symbol, qty,
                        rec.price[i], rec.fill_price[i], rec.commission[i], rec.slippage[i],
                        now, now,
                    )
                )  # fmt: skip
                next_id += 1
    return bars, orders, fills


async def _insert_rows(
    session: AsyncSession,
    model: type[PaperBar | PaperOrder | PaperFill],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert rows (tuples from :func:`bar_rows`) in the session's transaction: binary ``COPY``
    on PostgreSQL (asyncpg's ``copy_records_to_table``, several times faster than a multi-row
    ``INSERT`` for a replay's batches), else ``INSERT``. Constraints hold either way (a
    duplicate bar fails the whole batch). The caller must have run a statement in the
    transaction already: the driver only opens it on the first statement, and a ``COPY``
    before that would commit on its own.
    """
    if not rows:
        return
    table = model.__table__
    if session.get_bind().dialect.name != "postgresql":
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        uuid_columns = {"id", "session_id", "order_id"}

        def value(c: str, v: Any) -> Any:
            if v is not None and c in json_columns:
                return json.loads(v)
            return uuid.UUID(v) if c in uuid_columns and isinstance(v, str) else v

        dicts = [{c: value(c, v) for c, v in zip(columns, row, strict=True)} for row in rows]
        await session.execute(insert(model), dicts)
        return
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection
    if not driver.is_in_transaction():
        raise RuntimeError("COPY outside a transaction would commit on its own")
    await driver.copy_records_to_table(
        table.name, records=rows, columns=list(columns), schema_name=table.schema
    )


@dataclass(frozen=True, slots=True)
class Control:
    """What a session's row said when a replay batch was offered (:func:`record_bars`).

    Attributes:
        written: whether the batch was recorded.
        stop: a stop was requested (the batch was not recorded).
        halt: the kill switch's reason, when it was pulled and the batch did not start with
            the flattening bar (the batch was not recorded).
    """

    written: bool
    stop: bool = False
    halt: str | None = None


async def record_bars(
    session: AsyncSession,
    session_id: uuid.UUID,
    records: Sequence[BarRecord],
    *,
    control: bool = False,
) -> Control:
    """Persist processed bars (one transaction: the caller's unit of work; binary ``COPY``)
    and move the session's book to the last one. The unique ``(session, t)`` and
    ``(session, seq)`` constraints make a bar count once whatever retries happen.

    With ``control`` (replay jobs), the session's stop and kill-switch flags are read under
    the row lock this transaction takes anyway, and the batch is **refused** (nothing written)
    when a stop was requested, or when the kill switch was pulled and the batch does not start
    with the bar that flattens: the halt, committed before this lock was granted, then acts at
    the batch's first bar — no order is recorded for any bar after the halt was committed
    except the flattening one.
    """
    if not records:
        return Control(written=True)
    # Lock the session row first: it serialises writers (and halt-all), and it is a statement
    # through the session, so the transaction is open before the driver-level COPY joins it.
    paper = await PaperSessionRepository(session).get_or_raise(session_id, for_update=True)
    if control:
        if paper.stop_requested:
            return Control(written=False, stop=True)
        if paper.halt_requested and records[0].applied.kind != "flatten":
            return Control(written=False, halt=paper.halt_requested)
    now = utcnow()
    bars, orders, fills = bar_rows(session_id, records, now)
    await _insert_rows(session, PaperBar, BAR_COLUMNS, bars)
    await _insert_rows(session, PaperOrder, ORDER_COLUMNS, orders)
    await _insert_rows(session, PaperFill, FILL_COLUMNS, fills)
    last = records[-1]
    paper.equity = last.value
    paper.cash = last.cash
    paper.peak = max(paper.peak or last.value, max(r.value for r in records))
    paper.drawdown = last.drawdown
    paper.position = last.weights
    paper.units = last.units
    paper.realised_pnl = last.realised_pnl
    paper.unrealised_pnl = last.unrealised_pnl
    paper.n_bars += len(records)
    paper.n_orders += sum(1 for o in orders if o[9] == "filled")
    paper.n_rejected += sum(1 for o in orders if o[9] == "rejected")
    paper.last_t = _t(last.mark_t)
    if last.halted:
        paper.halt_reason = last.halted
        paper.halted_at = now
    paper.updated_at = now
    await session.flush()
    return Control(written=True)


async def processed_bars(session: AsyncSession, session_id: uuid.UUID) -> list[PaperBar]:
    """The session's processed bars, in order."""
    rows = await session.execute(
        select(PaperBar).where(PaperBar.session_id == session_id).order_by(PaperBar.seq)
    )
    return list(rows.scalars().all())


async def set_parity(session: AsyncSession, session_id: uuid.UUID, report: dict[str, Any]) -> None:
    """Record a replay's parity report."""
    await PAPER_SESSION.update(session, session_id, PaperSessionUpdate(parity=report))


def parity_of(paper: PaperSession) -> dict[str, Any]:
    """The stored parity report (409 before a replay has one)."""
    if paper.mode != "replay":
        raise ParityNotReady(
            f"paper session {paper.id} is live: parity compares a replay with its backtest"
        )
    if paper.parity is None:
        raise ParityNotReady(
            f"paper session {paper.id} is {paper.status}; its parity report is computed when "
            "the replay ends"
        )
    return paper.parity


async def list_rows(
    session: AsyncSession,
    model: type[PaperOrder] | type[PaperFill] | type[PaperBar],
    session_id: uuid.UUID,
    *,
    limit: int,
    after_seq: int | None,
) -> list[Any]:
    """Rows of a session in bar order (``after_seq``: only later bars)."""
    stmt = select(model).where(model.session_id == session_id)
    if after_seq is not None:
        stmt = stmt.where(model.seq > after_seq)
    stmt = stmt.order_by(model.seq).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


def live_channel(session_id: uuid.UUID) -> str:
    """Redis channel that wakes a live session's event streams (a bar was processed)."""
    return f"tradeopt:paper-session:{session_id}"


async def live_rows(
    session: AsyncSession, session_id: uuid.UUID, after_seq: int, limit: int = 500
) -> tuple[list[PaperBar], dict[int, list[PaperOrder]], dict[int, list[PaperFill]], PaperSession]:
    """A live session's bars after ``after_seq`` (up to ``limit``), their orders and fills by
    bar, and the session row. The row is read first: a status it shows was committed with the
    bars that led to it, which the later bar query sees (a halt never precedes its bar).
    """
    paper = await PaperSessionRepository(session).get_or_raise(session_id)
    bars = list(
        (
            await session.execute(
                select(PaperBar)
                .where(PaperBar.session_id == session_id, PaperBar.seq > after_seq)
                .order_by(PaperBar.seq)
                .limit(limit)
            )
        ).scalars()
    )
    orders: dict[int, list[PaperOrder]] = {}
    fills: dict[int, list[PaperFill]] = {}
    if bars:
        lo, hi = bars[0].seq, bars[-1].seq
        for model, out in ((PaperOrder, orders), (PaperFill, fills)):
            rows = await session.execute(
                select(model)
                .where(model.session_id == session_id, model.seq >= lo, model.seq <= hi)
                .order_by(model.seq, model.symbol)
            )
            for row in rows.scalars():
                out.setdefault(row.seq, []).append(row)  # type: ignore[arg-type]
    return bars, orders, fills, paper


# ----------------------------------------------------------------------------------------------
# live sessions
# ----------------------------------------------------------------------------------------------
def _bar_problems(bar: Bar) -> list[dict[str, Any]]:
    problems = []
    for name in ("open", "high", "low", "close"):
        if getattr(bar, name) <= 0:
            problems.append(_field_error(name, "price must be positive"))
    if bar.adj_close is not None and bar.adj_close <= 0:
        problems.append(_field_error("adj_close", "price must be positive"))
    if bar.volume < 0:
        problems.append(_field_error("volume", "volume must not be negative"))
    if bar.high < max(bar.open, bar.close):
        problems.append(_field_error("high", "high below max(open, close)"))
    if bar.low > min(bar.open, bar.close):
        problems.append(_field_error("low", "low above min(open, close)"))
    return problems


def _frame(symbol: str, bars: Sequence[LiveBar]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": pd.DatetimeIndex([b.t for b in bars]).tz_convert("UTC").as_unit("ns"),
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "adj_close": [b.adj_close for b in bars],
            "volume": [b.volume for b in bars],
        }
    )


@dataclass
class LiveStep:
    """What a pushed bar did."""

    session: PaperSession
    filled: dict[str, Any] | None
    decision: dict[str, Any] | None


async def push_bar(
    session: AsyncSession,
    store: ArtifactStore,
    session_id: uuid.UUID,
    bar: Bar,
    *,
    settings: StrategySettings,
    from_feed: bool = False,
) -> LiveStep:
    """Feed the next bar of a live session: it fills the decision taken at the previous bar's
    close (at this bar's open, or the previous close for ``fill="close"`` models), marks the
    book at its close, then the strategy decides at its close (risk limits, kill switch).

    The session row is locked while the bar is processed, and bars are unique per timestamp:
    a duplicate is a 409 and an out-of-order bar a 422 naming the last bar, neither creating an
    order. The engine is rebuilt from the stored bars and decisions (exactly, as a resumed
    replay), so any API replica can take the next bar.

    A session fed by a provider (``feed`` other than ``push``) takes its bars from the feed
    process only (``from_feed``): a pushed bar is a 409.
    """
    from tradeopt_strategy.policies import get_policy

    repo = PaperSessionRepository(session)
    paper = await repo.get_or_raise(session_id, for_update=True)
    if paper.mode != "live":
        raise SessionStateConflict(f"paper session {session_id} is a replay; it takes no bars")
    if paper.status != SessionStatus.RUNNING:
        raise SessionStateConflict(f"paper session {session_id} is {paper.status}")
    if paper.feed != "push" and not from_feed:
        raise SessionStateConflict(
            f"paper session {session_id} takes its bars from the {paper.feed} feed, not pushes"
        )
    when = bar.t if bar.t.tzinfo else bar.t.replace(tzinfo=UTC)
    exists = await session.scalar(
        select(LiveBar.id).where(LiveBar.session_id == session_id, LiveBar.t == when)
    )
    if exists is not None:
        raise DuplicateBar(f"a bar at {when.isoformat()} was already processed; nothing changed")
    last_t = await session.scalar(
        select(LiveBar.t)
        .where(LiveBar.session_id == session_id)
        .order_by(LiveBar.t.desc())
        .limit(1)
    )
    if last_t is not None and when <= last_t:
        raise ValidationFailed(
            f"bar at {when.isoformat()} is out of order: the last bar was at "
            f"{last_t.isoformat()}; bars must arrive oldest first",
            errors=[_field_error("t", f"must be after {last_t.isoformat()}")],
        )
    if problems := _bar_problems(bar):
        raise ValidationFailed(f"{len(problems)} problem(s) in the bar", errors=problems)
    session.add(
        LiveBar(
            id=uuid.uuid4(), session_id=session_id, t=when, open=bar.open, high=bar.high,
            low=bar.low, close=bar.close, adj_close=bar.adj_close or bar.close,
            volume=bar.volume,
        )
    )  # fmt: skip
    await session.flush()
    bars = list(
        (
            await session.execute(
                select(LiveBar).where(LiveBar.session_id == session_id).order_by(LiveBar.t)
            )
        ).scalars()
    )
    stored = await processed_bars(session, session_id)
    expected = await model_digests(session, [paper.model_id])
    lineage, model = await asyncio.to_thread(
        get_policy, store, paper.model_id, settings.strategy_policy_cache, expected
    )
    limits = RiskLimits.model_validate(paper.risk or {})

    def run() -> tuple[list[BarRecord], Applied | None, np.datetime64 | None]:
        engine = PaperEngine.for_live(
            lineage, _frame(lineage.symbols[0], bars), model, limits,
            cost_bps=paper.cost_bps, slippage_bps=paper.slippage_bps,
        )  # fmt: skip
        if engine is None:
            return [], None, None
        engine.restore([Applied.from_dict(b.applied) for b in stored])
        filled = []
        if paper.pending is not None:
            filled = engine.restore([Applied.from_dict(paper.pending["applied"])])
        if engine.done:
            return filled, None, None
        if paper.halt_requested:
            engine.request_halt(f"kill switch: {paper.halt_requested}")
        return filled, engine.decide(), engine.bar_time

    filled, decision, decided_at = await asyncio.to_thread(run)
    await record_bars(session, session_id, filled)
    await session.refresh(paper)
    if filled and filled[-1].halted:
        paper.status = SessionStatus.HALTED
        paper.finished_at = utcnow()
    if paper.broker == "alpaca":
        refused = await _send_to_alpaca(session, paper, filled, settings)
        if refused is not None:
            paper.status = SessionStatus.HALTED
            paper.halt_reason = f"broker: {refused}"
            paper.halted_at = paper.finished_at = utcnow()
            decision = None
    paper.pending = (
        None
        if decision is None or decided_at is None
        else {"t": _t(decided_at).isoformat(), "applied": decision.to_dict()}
    )
    if not filled:
        paper.last_t = when
    paper.updated_at = utcnow()
    await session.flush()
    return LiveStep(
        session=paper,
        filled=None if not filled else _record_summary(filled[-1]),
        decision=None if paper.pending is None else {
            "t": paper.pending["t"], **paper.pending["applied"],
            "target": None if decision is None else _target_of(decision),
        },
    )  # fmt: skip


async def halt_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> bool:
    """Halt a running live session with ``reason`` (as a broker refusal does: its book stays as
    it is, nothing is flattened since no further bar can fill an order). False when the session
    had already ended.
    """
    paper = await PaperSessionRepository(session).get_or_raise(session_id, for_update=True)
    if paper.status != SessionStatus.RUNNING:
        return False
    now = utcnow()
    paper.status = SessionStatus.HALTED
    paper.halt_reason = reason
    paper.halted_at = paper.finished_at = paper.updated_at = now
    paper.pending = None
    await session.flush()
    return True


#: Alpaca order states after which its fill report no longer changes.
BROKER_FINAL = frozenset({"filled", "canceled", "expired", "rejected", "replaced", "done_for_day"})


async def _send_to_alpaca(
    session: AsyncSession, paper: PaperSession, records: list[BarRecord], settings: StrategySettings
) -> str | None:
    """Send the orders of ``records`` to Alpaca's paper API (client order id per session, bar
    and symbol: a retried bar never places a second order) and write Alpaca's fill reports into
    the session's book: each order's Alpaca id, status, filled quantity and average fill price
    (orders still open are asked again at every later bar until final), and the account's
    positions. Returns the reason when the broker refused (bad credentials or another refusal),
    else None. Nothing is asked of Alpaca while there is no new order and none is open.
    """
    from tradeopt_strategy.brokers import AlpacaPaperBroker, BrokerError, BrokerOrder

    seqs = [r.seq for r in records if r.ordered]
    new = (
        list(
            (
                await session.execute(
                    select(PaperOrder).where(
                        PaperOrder.session_id == paper.id,
                        PaperOrder.seq.in_(seqs),
                        PaperOrder.status == "filled",
                        PaperOrder.broker_order_id.is_(None),
                    )
                )
            ).scalars()
        )
        if seqs
        else []
    )
    open_orders = list(
        (
            await session.execute(
                select(PaperOrder).where(
                    PaperOrder.session_id == paper.id,
                    PaperOrder.broker_order_id.is_not(None),
                    PaperOrder.broker_status.not_in(BROKER_FINAL),
                )
            )
        ).scalars()
    )
    if not new and not open_orders:
        return None

    def report(order: PaperOrder, placed: BrokerOrder) -> None:
        order.broker_order_id, order.broker_status = placed.id, placed.status
        order.broker_filled_qty = placed.filled_qty
        order.broker_fill_price = placed.filled_avg_price

    try:
        broker = AlpacaPaperBroker.from_settings(settings)
        for order in new:
            side = "buy" if order.side == "buy" else "sell"
            cid = f"tradeopt-{paper.id}-{order.seq}-{order.symbol}"
            report(
                order,
                await asyncio.to_thread(
                    broker.submit_order, order.symbol, order.quantity, side, cid
                ),
            )
        for order in open_orders:
            assert order.broker_order_id is not None
            report(order, await asyncio.to_thread(broker.get_order, order.broker_order_id))
        paper.broker_positions = await asyncio.to_thread(broker.positions)
    except BrokerError as exc:
        return str(exc)
    await session.flush()
    return None


def _target_of(applied: Applied) -> Any:
    return applied.weights if applied.weights is not None else applied.action


def _record_summary(rec: BarRecord) -> dict[str, Any]:
    return {
        "seq": rec.seq,
        "decided_at": _t(rec.t).isoformat(),
        "filled_at": _t(rec.fill_t).isoformat(),
        "decision": rec.applied.kind,
        "traded": rec.traded,
        "fill_price": rec.fill_price,
        "cost": rec.cost,
        "units": rec.units,
        "equity": rec.value,
    }
