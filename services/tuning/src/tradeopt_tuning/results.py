"""A study's results: parameter importances (fANOVA, seeded by the study's seed), the objective's
history and Plotly figures, read from the study's trial rows and its Optuna storage. The maths is
:mod:`tradeopt_ml.tuning.results`; this module loads, maps errors and runs Optuna's synchronous
storage off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_ml.tuning.objective import Objective
from tradeopt_ml.tuning.results import (
    PLOT_MIN_TRIALS,
    HistoryPoint,
    TooFewTrials,
    complete_trials,
    history,
    param_importances,
    plot,
)
from tradeopt_tuning import service
from tradeopt_tuning.config import TuningSettings
from tradeopt_tuning.errors import PlotKindNotFound, StudyResultsConflict
from tradeopt_tuning.models import Study
from tradeopt_tuning.storage import get_storage, study_name

#: The plot kinds served (``GET /api/v1/studies/{id}/plots/{kind}``).
PLOT_KINDS = tuple(PLOT_MIN_TRIALS)


def _load(settings: TuningSettings, study: Study) -> Any:
    """The study's Optuna study, or :class:`StudyResultsConflict` before its first step."""
    import optuna

    try:
        return optuna.load_study(
            study_name=study_name(study.id), storage=get_storage(settings.optuna_url())
        )
    except KeyError as exc:  # Optuna: "Record does not exist."
        raise StudyResultsConflict(
            f"study {study.id} has no trials yet (status {study.status})"
        ) from exc


def _conflict(study: Study, exc: TooFewTrials) -> StudyResultsConflict:
    return StudyResultsConflict(f"study {study.id}: {exc}")


async def importances(settings: TuningSettings, study: Study) -> tuple[dict[str, float], int]:
    """The fANOVA importances of the searched parameters (seeded by the study's seed) and the number
    of complete trials they come from; 409 with too few complete trials.
    """

    def compute() -> tuple[dict[str, float], int]:
        opt = _load(settings, study)
        try:
            return param_importances(opt, seed=study.seed), len(complete_trials(opt))
        except TooFewTrials as exc:
            raise _conflict(study, exc) from exc

    return await asyncio.to_thread(compute)


async def objective_history(session: AsyncSession, study: Study) -> list[HistoryPoint]:
    """The objective per trial with the best so far (from the trial rows)."""
    trials = await service.list_trials(session, study.id)
    direction = Objective.model_validate(study.objective).direction
    return history([(t.number, str(t.state), t.value) for t in trials], direction)


async def figure(settings: TuningSettings, study: Study, kind: str) -> dict[str, Any]:
    """The Plotly figure of ``kind``; 404 for an unknown kind, 409 with too few trials."""
    if kind not in PLOT_MIN_TRIALS:
        raise PlotKindNotFound(f"no plot {kind!r}; kinds: {', '.join(PLOT_KINDS)}")

    def compute() -> dict[str, Any]:
        try:
            return plot(_load(settings, study), kind, seed=study.seed)
        except TooFewTrials as exc:
            raise _conflict(study, exc) from exc

    return await asyncio.to_thread(compute)
