"""``/api/v1/strategies``: evaluated models promoted to strategies, their signals, the kill
switch.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tradeopt_common.contracts.models import model_digests
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.web.deps import (
    AdminPrincipal,
    IdempotencyDep,
    ReadSessionDep,
    SessionDep,
    StoreDep,
    WritePrincipal,
    service_settings,
)
from tradeopt_common.web.listing import add_list_route
from tradeopt_common.web.problems import problem_responses
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_ml.paper import BarsProblem, RiskLimits, check_bars, compute_signal
from tradeopt_strategy import service
from tradeopt_strategy.config import StrategySettings
from tradeopt_strategy.deps import CurrentStrategy
from tradeopt_strategy.errors import StrategyStateConflict
from tradeopt_strategy.models import StrategyState
from tradeopt_strategy.policies import get_policy, is_cached
from tradeopt_strategy.schemas import (
    HaltAll,
    HaltAllRead,
    SignalRead,
    SignalRequest,
    StrategyCreate,
    StrategyRead,
    StrategyUpdate,
)

router = APIRouter(prefix="/api/v1/strategies", tags=["strategies"], route_class=CachedReadRoute)
StrategySettingsDep = Annotated[StrategySettings, Depends(service_settings(StrategySettings))]


@router.post(
    "",
    status_code=201,
    response_model=StrategyRead,
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def create_strategy(
    body: StrategyCreate,
    session: SessionDep,
    store: StoreDep,
    principal: WritePrincipal,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    """Promote a registered model to a strategy: its symbols, risk limits (``max_position``,
    ``max_drawdown``, ``max_daily_loss``, ``max_order_size``, ``allowed_hours``). The model
    needs a succeeded evaluation on record (409 naming what is missing). Accepts
    ``Idempotency-Key``.
    """
    if (replayed := await idempotency.begin()) is not None:
        return replayed
    strategy = await service.create_strategy(session, store, body, created_by=principal.id)
    return await idempotency.respond(
        StrategyRead.model_validate(strategy),
        status_code=201,
        headers={"Location": f"{router.prefix}/{strategy.id}"},
    )


@router.post(
    "/halt-all",
    response_model=HaltAllRead,
    responses=problem_responses(400, 401, 403, 422),
)
async def halt_all(
    session: SessionDep, _: AdminPrincipal, body: HaltAll | None = None
) -> HaltAllRead:
    """The kill switch (admin scope): every running paper session flattens at its next bar and
    halts with the reason.
    """
    reason = (body or HaltAll()).reason
    return HaltAllRead(halted=await service.halt_all(session, reason), reason=reason)


class StrategyFilters(BaseModel):
    """Strategies, newest first; filter by state or model."""

    state: StrategyState | None = None
    model_id: uuid.UUID | None = None


add_list_route(router, "list_strategies", service.list_strategies, StrategyRead, StrategyFilters)


@router.get(
    "/{strategy_id}", response_model=StrategyRead, responses=problem_responses(401, 403, 404, 422)
)
async def get_strategy(strategy: CurrentStrategy) -> StrategyRead:
    """One strategy."""
    return StrategyRead.model_validate(strategy)


@router.patch(
    "/{strategy_id}",
    response_model=StrategyRead,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def update_strategy(
    _: WritePrincipal, strategy: CurrentStrategy, body: StrategyUpdate, session: SessionDep
) -> StrategyRead:
    """Pause, resume or stop a strategy (a stopped one stays stopped), change its risk limits
    (new sessions use them) or its name.
    """
    updated = await service.update_strategy(session, strategy.id, body)
    return StrategyRead.model_validate(updated)


@router.post(
    "/{strategy_id}/signal",
    response_model=SignalRead,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def signal(
    strategy: CurrentStrategy,
    body: SignalRequest,
    store: StoreDep,
    settings: StrategySettingsDep,
    session: ReadSessionDep,
) -> SignalRead:
    """The strategy's decision at the close of the last of ``bars`` (oldest first): the same
    feature code and normalisation as training, the deterministic policy, the risk limits.
    422 names the shortfall (too few bars, gaps, bad values).
    """
    if strategy.state != StrategyState.ACTIVE:
        raise StrategyStateConflict(f"strategy {strategy.id} is {strategy.state}")
    if len(body.bars) > settings.strategy_max_signal_bars:
        raise ValidationFailed(
            f"at most {settings.strategy_max_signal_bars} bars per signal",
            errors=[{"loc": ["body", "bars"], "msg": "too many bars", "type": "too_long"}],
        )
    limits = RiskLimits.model_validate(strategy.risk)
    bars = [b.model_dump() for b in body.bars]

    expected = None
    if not is_cached(strategy.model_id):  # verified once, when this process loads it
        expected = await model_digests(session, [strategy.model_id])

    def run() -> SignalRead:
        lineage, model = get_policy(
            store, strategy.model_id, settings.strategy_policy_cache, expected
        )
        try:
            frame = check_bars(lineage, bars)
            out = compute_signal(lineage, model, frame, position=body.position, limits=limits)
        except BarsProblem as exc:
            raise ValidationFailed(str(exc), errors=exc.errors) from exc
        return SignalRead(
            strategy_id=strategy.id,
            model_id=strategy.model_id,
            symbol=lineage.symbols[0],
            as_of=frame["timestamp"].iloc[-1].tz_localize("UTC").to_pydatetime(),
            target_position=out.target_position,
            action=out.action,
            raw_action=out.raw_action,
            allowed=out.allowed,
            reason=out.reason,
        )

    return await asyncio.to_thread(run)
