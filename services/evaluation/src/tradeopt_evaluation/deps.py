"""Evaluation-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, SessionDep
from tradeopt_evaluation import service
from tradeopt_evaluation.models import Evaluation


async def get_current_evaluation(
    evaluation_id: uuid.UUID, session: SessionDep, _: ReadPrincipal
) -> Evaluation:
    """The evaluation named in the path, or 404."""
    return await service.get_evaluation(session, evaluation_id)


CurrentEvaluation = Annotated[Evaluation, Depends(get_current_evaluation)]
