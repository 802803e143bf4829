"""Tuning-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, SessionDep, StateDep
from tradeopt_tuning import service
from tradeopt_tuning.config import TuningSettings
from tradeopt_tuning.models import Study


async def get_current_study(study_id: uuid.UUID, session: SessionDep, _: ReadPrincipal) -> Study:
    """The study named in the path, or 404."""
    return await service.get_study(session, study_id)


CurrentStudy = Annotated[Study, Depends(get_current_study)]


def get_tuning_settings_dep(state: StateDep) -> TuningSettings:
    """The app's settings (a :class:`TuningSettings`, since the app was built with them)."""
    settings = state.settings
    if not isinstance(settings, TuningSettings):  # pragma: no cover - wiring error
        raise TypeError("the tuning app must be created with TuningSettings")
    return settings


TuningSettingsDep = Annotated[TuningSettings, Depends(get_tuning_settings_dep)]
