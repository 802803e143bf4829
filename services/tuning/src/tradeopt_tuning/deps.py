"""Tuning-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, SessionDep, service_settings
from tradeopt_tuning import service, service_wfo
from tradeopt_tuning.config import TuningSettings
from tradeopt_tuning.models import Study, WalkForwardOptimization


async def get_current_study(study_id: uuid.UUID, session: SessionDep, _: ReadPrincipal) -> Study:
    """The study named in the path, or 404."""
    return await service.get_study(session, study_id)


CurrentStudy = Annotated[Study, Depends(get_current_study)]


TuningSettingsDep = Annotated[TuningSettings, Depends(service_settings(TuningSettings))]


async def get_current_optimization(
    optimization_id: uuid.UUID, session: SessionDep, _: ReadPrincipal
) -> WalkForwardOptimization:
    """The walk-forward optimisation named in the path, or 404."""
    return await service_wfo.get_optimization(session, optimization_id)


CurrentOptimization = Annotated[WalkForwardOptimization, Depends(get_current_optimization)]
