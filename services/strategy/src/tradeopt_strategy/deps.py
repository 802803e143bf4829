"""Strategy-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, SessionDep
from tradeopt_strategy import service
from tradeopt_strategy.models import PaperSession, Strategy


async def get_current_strategy(
    strategy_id: uuid.UUID, session: SessionDep, _: ReadPrincipal
) -> Strategy:
    """The strategy named in the path, or 404."""
    return await service.get_strategy(session, strategy_id)


async def get_current_session(
    session_id: uuid.UUID, session: SessionDep, _: ReadPrincipal
) -> PaperSession:
    """The paper session named in the path, or 404."""
    return await service.get_session(session, session_id)


CurrentStrategy = Annotated[Strategy, Depends(get_current_strategy)]
CurrentSession = Annotated[PaperSession, Depends(get_current_session)]
