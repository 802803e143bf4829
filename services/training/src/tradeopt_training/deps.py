"""Training-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, SessionDep, service_settings
from tradeopt_training import service
from tradeopt_training.config import TrainingSettings
from tradeopt_training.models import Model, TrainingRun


async def get_current_run(run_id: uuid.UUID, session: SessionDep, _: ReadPrincipal) -> TrainingRun:
    """The run named in the path, or 404."""
    return await service.get_run(session, run_id)


async def get_current_model(model_id: uuid.UUID, session: SessionDep, _: ReadPrincipal) -> Model:
    """The model named in the path, or 404."""
    return await service.get_model(session, model_id)


TrainingSettingsDep = Annotated[TrainingSettings, Depends(service_settings(TrainingSettings))]
CurrentRun = Annotated[TrainingRun, Depends(get_current_run)]
CurrentModel = Annotated[Model, Depends(get_current_model)]
