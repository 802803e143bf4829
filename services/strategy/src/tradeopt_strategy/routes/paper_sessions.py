"""``/api/v1/paper-sessions``: paper trading of a strategy (replay or live bars), its orders,
fills, positions, equity, parity report and events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter
from sse_starlette.sse import EventSourceResponse

from tradeopt_common.db.session import after_commit
from tradeopt_common.jobs.routes import PollQuery
from tradeopt_common.web.deps import (
    IdempotencyDep,
    SessionDep,
    SettingsDep,
    StateDep,
    StoreDep,
    WritePrincipal,
    service_settings,
)
from tradeopt_common.web.idempotency import accepted_route, transition_route
from tradeopt_common.web.job_events import JobEventsDep
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_strategy import service
from tradeopt_strategy.config import StrategySettings
from tradeopt_strategy.deps import CurrentSession
from tradeopt_strategy.models import (
    LIVE_STATUSES,
    PaperBar,
    PaperFill,
    PaperOrder,
    SessionStatus,
)
from tradeopt_strategy.schemas import Bar, LiveBarResult, PaperSessionCreate, PaperSessionRead

router = APIRouter(
    prefix="/api/v1/paper-sessions", tags=["paper-sessions"], route_class=CachedReadRoute
)
Limit = Annotated[int, Query(ge=1, le=10_000)]
AfterSeq = Annotated[int | None, Query(ge=-1, description="only bars after this sequence number")]
_ROWS = problem_responses(401, 403, 404, 422)
StrategySettingsDep = Annotated[StrategySettings, Depends(service_settings(StrategySettings))]


@router.post("", **accepted_route(PaperSessionRead))
async def create_session(
    body: PaperSessionCreate,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: SettingsDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Paper-trade an active strategy: ``mode: replay`` steps a dataset's split part (default
    ``test``) or date range through it as a job at ``speed`` (``max`` or bars per second);
    ``mode: live`` waits for bars pushed to ``…/{id}/bars`` (``feed: push``) or pulled from
    Alpaca's market data by the bar feed (``feed: alpaca``). Accepts ``Idempotency-Key``.
    """

    async def create() -> Any:
        return await service.create_session(
            session, store, state.dispatcher, body,
            created_by=principal.id, max_attempts=settings.job_max_attempts,
        )  # fmt: skip

    return await idempotency.accept(create, PaperSessionRead, router.prefix)


class SessionFilters(BaseModel):
    """Paper sessions, newest first; filter by status, strategy or mode."""

    status: SessionStatus | None = None
    strategy_id: uuid.UUID | None = None
    mode: str | None = None


add_list_route(
    router, "list_paper_sessions", service.list_sessions, PaperSessionRead, SessionFilters
)


@router.get(
    "/{session_id}",
    response_model=PaperSessionRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_session(paper: CurrentSession) -> PaperSessionRead:
    """A session and its book: status, equity, cash, position, PnL, orders, halt reason."""
    return PaperSessionRead.model_validate(paper)


@router.post("/{session_id}/stop", **transition_route(PaperSessionRead))
async def stop_session(
    _: WritePrincipal, paper: CurrentSession, session: SessionDep, state: StateDep
) -> PaperSessionRead:
    """Stop a session (a replay stops at its next bar); 409 once it has ended."""
    stopped = await service.stop_session(session, state.dispatcher, paper.id)
    return PaperSessionRead.model_validate(stopped)


@router.post(
    "/{session_id}/bars",
    response_model=LiveBarResult,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def push_bar(
    _: WritePrincipal,
    paper: CurrentSession,
    bar: Bar,
    session: SessionDep,
    state: StateDep,
    store: StoreDep,
    settings: StrategySettingsDep,
) -> LiveBarResult:
    """Push the next bar of a live session (oldest first): it fills the order decided at the
    previous bar's close, marks the book at its close, and the strategy decides at its close
    (``decision``: filled by the next bar). A bar already processed is a 409, an out-of-order
    one a 422 naming the last bar; neither creates an order. A session fed by a provider
    (``"feed": "alpaca"``) takes no pushed bars (409).
    """
    step = await service.push_bar(session, store, paper.id, bar, settings=settings)
    channel = service.live_channel(paper.id)
    after_commit(session, lambda: state.redis.publish(channel, "bar"))  # wakes …/events
    return LiveBarResult(
        session=PaperSessionRead.model_validate(step.session),
        filled=step.filled,
        decision=step.decision,
    )


@router.get("/{session_id}/orders", responses=_ROWS)
async def list_orders(
    paper: CurrentSession, session: SessionDep, limit: Limit = 1000, after_seq: AfterSeq = None
) -> list[dict[str, Any]]:
    """Orders in bar order: decision bar ``t``, side, quantity (units), target weight, kind
    (``trade``, ``reduced``, ``rejected``, ``flatten``), status and reason.
    """
    rows = await service.list_rows(session, PaperOrder, paper.id, limit=limit, after_seq=after_seq)
    return [_order_row(r) for r in rows]


def _order_row(r: PaperOrder) -> dict[str, Any]:
    return {
        "id": r.id, "seq": r.seq, "t": r.t, "symbol": r.symbol, "side": r.side,
        "quantity": r.quantity, "target_weight": r.target_weight, "kind": r.kind,
        "status": r.status, "reason": r.reason, "broker_order_id": r.broker_order_id,
        "broker_status": r.broker_status, "broker_filled_qty": r.broker_filled_qty,
        "broker_fill_price": r.broker_fill_price,
    }  # fmt: skip


@router.get("/{session_id}/fills", responses=_ROWS)
async def list_fills(
    paper: CurrentSession, session: SessionDep, limit: Limit = 1000, after_seq: AfterSeq = None
) -> list[dict[str, Any]]:
    """Fills in bar order: fill time, signed quantity, reference and executed price,
    commission and slippage.
    """
    rows = await service.list_rows(session, PaperFill, paper.id, limit=limit, after_seq=after_seq)
    return [_fill_row(r) for r in rows]


def _fill_row(r: PaperFill) -> dict[str, Any]:
    return {
        "id": r.id, "order_id": r.order_id, "seq": r.seq, "t": r.t, "symbol": r.symbol,
        "quantity": r.quantity, "price": r.price, "fill_price": r.fill_price,
        "commission": r.commission, "slippage": r.slippage,
    }  # fmt: skip


@router.get("/{session_id}/equity", responses=_ROWS)
async def list_equity(
    paper: CurrentSession, session: SessionDep, limit: Limit = 10_000, after_seq: AfterSeq = None
) -> list[dict[str, Any]]:
    """``[{"t", "equity", "drawdown", "position", "cash", "decided_at", "decision"}]``: the
    book marked at each bar's close (``t``) after the decision taken at ``decided_at``'s close
    filled; ``decision`` is ``trade``, ``hold``, ``rejected``, ``reduced`` or ``flatten``.
    """
    rows = await service.list_rows(session, PaperBar, paper.id, limit=limit, after_seq=after_seq)
    return [_equity_row(r) for r in rows]


def _equity_row(r: PaperBar) -> dict[str, Any]:
    return {
        "seq": r.seq, "t": r.mark_t, "equity": r.value, "drawdown": r.drawdown,
        "position": r.weights[0] if len(r.weights) == 1 else r.weights, "cash": r.cash,
        "decided_at": r.t, "decision": r.applied["kind"], "reason": r.applied["reason"],
    }  # fmt: skip


@router.get("/{session_id}/positions", responses=_ROWS)
async def list_positions(paper: CurrentSession) -> list[dict[str, Any]]:
    """Open positions per symbol: units, weight, and the session's PnL; for an Alpaca session
    also ``broker_units``, the position Alpaca last reported (its fills), else null.
    """
    broker = paper.broker_positions if paper.broker == "alpaca" else None
    return [
        {
            "symbol": s, "units": u, "weight": w,
            "realised_pnl": paper.realised_pnl, "unrealised_pnl": paper.unrealised_pnl,
            "broker_units": None if broker is None else float(broker.get(s, 0.0)),
        }
        for s, u, w in zip(paper.symbols, paper.units, paper.position, strict=False)
    ]  # fmt: skip


@router.get("/{session_id}/parity", responses=problem_responses(401, 403, 404, 409, 422))
async def get_parity(paper: CurrentSession) -> dict[str, Any]:
    """The replay's equity vs the evaluation backtest of the same model on the same bars and
    costs, to 1e-9: ``ok``, the bars compared, the largest equity difference and every
    divergent bar (equity, units, costs, fills of both sides).
    """
    return service.parity_of(paper)


@router.get(
    "/{session_id}/events",
    response_class=EventSourceResponse,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def session_events(
    paper: CurrentSession,
    events: JobEventsDep,
    request: Request,
    state: StateDep,
    poll: PollQuery = 1.0,
    after_seq: AfterSeq = None,
) -> EventSourceResponse:
    """Server-Sent Events. A replay: its job's (progress per committed batch, then its end).
    A live session: ``bar`` (the book after each processed bar, as in ``…/equity``), then that
    bar's ``order`` and ``fill`` events (as in ``…/orders`` and ``…/fills``), from
    ``after_seq`` on (default: the first bar); the stream ends with ``halt`` (reason) or ``end``
    (stopped) when the session does. Pushed bars wake the stream at once (Redis), else it
    polls every ``poll`` seconds.
    """
    if paper.job_id is not None:
        return events(paper.job_id)
    stream = _live_events(paper.id, request, state, poll, -1 if after_seq is None else after_seq)
    return EventSourceResponse(stream, ping=15)


async def _live_events(
    session_id: uuid.UUID, request: Request, state: Any, poll: float, after_seq: int
) -> AsyncIterator[dict[str, str]]:
    subscription = state.redis.pubsub()
    pubsub: Any = subscription
    try:
        try:
            await subscription.subscribe(service.live_channel(session_id))
        except Exception:
            pubsub = None  # Redis unreachable: poll the database only
        while not await request.is_disconnected():
            async with state.db.unit_of_work() as session:
                bars, orders, fills, paper = await service.live_rows(session, session_id, after_seq)
            for bar in bars:
                yield {"event": "bar", "data": _json(_equity_row(bar))}
                for order in orders.get(bar.seq, []):
                    yield {"event": "order", "data": _json(_order_row(order))}
                for fill in fills.get(bar.seq, []):
                    yield {"event": "fill", "data": _json(_fill_row(fill))}
                after_seq = bar.seq
            if bars:
                continue  # more may be waiting (pages of 500 bars)
            if paper.status not in LIVE_STATUSES:
                end = {
                    "status": paper.status, "halt_reason": paper.halt_reason,
                    "halted_at": paper.halted_at, "n_bars": paper.n_bars,
                    "equity": paper.equity, "position": paper.position,
                }  # fmt: skip
                kind = "halt" if paper.status == SessionStatus.HALTED else "end"
                yield {"event": kind, "data": _json(end)}
                return
            await _wait(pubsub, poll)
    finally:
        await subscription.aclose()


_ROW_JSON = TypeAdapter(dict[str, Any])


def _json(row: dict[str, Any]) -> str:
    """A row as the list routes encode it (pydantic: ``Z`` timestamps)."""
    return _ROW_JSON.dump_json(row).decode()


async def _wait(pubsub: Any, timeout: float) -> None:
    if pubsub is None:
        await asyncio.sleep(timeout)
        return
    try:
        await pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
    except Exception:
        await asyncio.sleep(timeout)
