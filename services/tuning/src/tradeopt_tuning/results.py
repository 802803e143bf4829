"""A study's results: parameter importances (fANOVA, seeded by the study's seed), the objective's
history and Plotly figures, read from the study's trial rows and its Optuna storage. The maths is
:mod:`tradeopt_ml.tuning.results`; this module loads, maps errors and runs Optuna's synchronous
storage off the event loop.

Each result is about one objective, the ``target`` (a metric of the study's objectives; default
the first), except the ``pareto_front`` figure of a multi-objective study, which shows them all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.errors import ValidationFailed
from tradeopt_ml.tuning.objective import Objective
from tradeopt_ml.tuning.results import (
    PLOT_MIN_TRIALS,
    HistoryPoint,
    Target,
    TooFewTrials,
    complete_trials,
    history,
    param_importances,
    plot,
)
from tradeopt_tuning import service
from tradeopt_tuning.config import TuningSettings
from tradeopt_tuning.errors import PlotKindNotFound, StudyResultsConflict
from tradeopt_tuning.models import Study, Trial
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


def resolve_target(study: Study, target: str | None) -> tuple[Objective, Target | None]:
    """The objective ``target`` names (default: the first) and, for a multi-objective study,
    Optuna's target for it (``None`` for a single objective: Optuna's own value). 422 naming
    ``target`` when the study has no such objective.
    """
    objectives = study.objective_list
    metrics = [o.metric for o in objectives]
    if target is None:
        index = 0
    elif target in metrics:
        index = metrics.index(target)
    else:
        message = f"the study's objectives are {', '.join(metrics)}; not {target!r}"
        raise ValidationFailed(
            message, errors=[{"loc": ["query", "target"], "msg": message, "type": "value_error"}]
        )
    chosen = objectives[index]
    return chosen, (Target(index, chosen.metric) if len(objectives) > 1 else None)


async def importances(
    settings: TuningSettings, study: Study, target: str | None = None
) -> tuple[dict[str, float], int, str]:
    """The fANOVA importances of the searched parameters for the ``target`` objective (seeded by
    the study's seed), the number of complete trials they come from and the target's metric;
    409 with too few complete trials.
    """
    objective, chosen = resolve_target(study, target)

    def compute() -> tuple[dict[str, float], int, str]:
        opt = _load(settings, study)
        try:
            values = param_importances(opt, seed=study.seed, target=chosen)
        except TooFewTrials as exc:
            raise _conflict(study, exc) from exc
        return values, len(complete_trials(opt)), objective.metric

    return await asyncio.to_thread(compute)


async def objective_history(
    session: AsyncSession, study: Study, target: str | None = None
) -> tuple[Objective, list[HistoryPoint]]:
    """The ``target`` objective per trial with the best so far (from the trial rows)."""
    objective, chosen = resolve_target(study, target)
    trials = await service.list_trials(session, study.id)

    def value(trial: Trial) -> float | None:
        if chosen is None:
            return trial.value
        return float(trial.values[chosen.index]) if trial.values else None

    points = history([(t.number, str(t.state), value(t)) for t in trials], objective.direction)
    return objective, points


async def figure(
    settings: TuningSettings, study: Study, kind: str, target: str | None = None
) -> dict[str, Any]:
    """The Plotly figure of ``kind`` about the ``target`` objective (``pareto_front``: every
    objective); 404 for an unknown kind, 409 with too few trials or for a Pareto front of a
    study without 2 or 3 objectives, 422 for an unknown target.
    """
    if kind not in PLOT_MIN_TRIALS:
        raise PlotKindNotFound(f"no plot {kind!r}; kinds: {', '.join(PLOT_KINDS)}")
    _, chosen = resolve_target(study, target)
    names = [o.metric for o in study.objective_list]

    def compute() -> dict[str, Any]:
        try:
            return plot(_load(settings, study), kind, seed=study.seed, target=chosen, names=names)
        except TooFewTrials as exc:
            raise _conflict(study, exc) from exc
        except ValueError as exc:  # a Pareto front of a study without 2 or 3 objectives
            raise StudyResultsConflict(f"study {study.id}: {exc}") from exc

    return await asyncio.to_thread(compute)
