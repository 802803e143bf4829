"""``/api/v1/studies/{id}/importances|history|plots/{kind}``: what a study's trials tell."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tradeopt_common.web.deps import ReadSessionDep
from tradeopt_common.web.problems import problem_responses
from tradeopt_tuning import results
from tradeopt_tuning.deps import CurrentStudy, TuningSettingsDep
from tradeopt_tuning.schemas import HistoryPointRead, HistoryRead, ImportancesRead

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])
_PROBLEMS = problem_responses(401, 403, 404, 409, 422)
Target = Annotated[
    str | None,
    Query(
        max_length=64,
        description="the objective (metric) a multi-objective study's result is about; "
        "default: its first objective",
    ),
]


@router.get("/{study_id}/importances", response_model=ImportancesRead, responses=_PROBLEMS)
async def study_importances(
    study: CurrentStudy, settings: TuningSettingsDep, target: Target = None
) -> ImportancesRead:
    """Importance of each searched hyperparameter for the objective (``target`` of a
    multi-objective study): fANOVA over the complete trials, its random forest seeded with the
    study's seed (the same trials give the same numbers). 409 with fewer than two complete
    trials, 422 for a target that is not one of the study's objectives.
    """
    values, n_complete, metric = await results.importances(settings, study, target)
    return ImportancesRead(
        study_id=study.id, seed=study.seed, n_complete=n_complete, metric=metric, importances=values
    )


@router.get(
    "/{study_id}/history",
    response_model=HistoryRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def study_history(
    study: CurrentStudy, session: ReadSessionDep, target: Target = None
) -> HistoryRead:
    """The objective (``target`` of a multi-objective study) of every trial by number, and the
    best value of the complete trials so far (by its direction); failed, pruned and running
    trials have no value.
    """
    objective, points = await results.objective_history(session, study, target)
    return HistoryRead(
        study_id=study.id,
        direction=objective.direction,
        metric=objective.metric,
        trials=[HistoryPointRead.model_validate(p) for p in points],
    )


PlotKind = Annotated[
    str,
    Path(
        max_length=64,
        description=f"one of: {', '.join(results.PLOT_KINDS)}",
        examples=list(results.PLOT_KINDS),
    ),
]


@router.get("/{study_id}/plots/{kind}", responses=_PROBLEMS)
async def study_plot(
    study: CurrentStudy, kind: PlotKind, settings: TuningSettingsDep, target: Target = None
) -> dict[str, Any]:
    """A Plotly figure (``{"data", "layout"}``, for ``Plotly.newPlot``) of
    :mod:`optuna.visualization`: ``optimization_history``, ``param_importances`` (fANOVA, seeded),
    ``parallel_coordinate``, ``slice`` or ``contour`` (about the ``target`` objective of a
    multi-objective study), or ``pareto_front`` (a study with 2 or 3 objectives; dominated
    trials included). 404 for another kind, 409 when the study has too few complete trials for
    it (or no Pareto front to draw), 422 for a target that is not one of its objectives.
    """
    return await results.figure(settings, study, kind, target)
