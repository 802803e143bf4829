"""The body of ``tuning.optimize_walk_forward``: walk-forward optimisation as one parked parent
job over one study per fold (registered by kind, like :mod:`tradeopt_tuning.jobs`).

The folds are :func:`tradeopt_ml.data.walk_forward` over the dataset (the evaluation service's
walk-forward and the data service's splits use the same layout), planned when the optimisation
is created. Two idempotent steps over the job's checkpoint:

1. **Start the studies.** For each fold, an ordinary study of this service (listed in
   ``/api/v1/studies``; its id derives from the optimisation's and the fold's, so a retried step
   finds it) whose trial runs train from the fold's in-sample window's start and validate on its
   last ``validation_fraction`` (``start`` + a date ``split``), so no trial sees a bar after the
   window. Then ``ctx.wait_for`` the studies' jobs: the optimisation parks in ``waiting`` and
   holds no worker while the studies (parked parents themselves) run their trials.
2. **Freeze and test** (woken when the last study ended). Each fold's best trial's parameters
   are frozen. The run that trains them on the in-sample window is the best trial's own run:
   it trained exactly those parameters, with the optimisation's seed and timesteps, on exactly
   that window, so it is reused rather than trained again (a new run with the same request and
   seed would reproduce it). Its model is backtested on the fold's out-of-sample window with
   :func:`tradeopt_ml.evaluation.walk_forward_report` — the evaluation service's engine, same
   bars and costs, buy-and-hold on the same bars — and the out-of-sample windows are stitched.
   The stability of the optimum across folds comes from
   :mod:`tradeopt_ml.tuning.walkforward` (its docstring defines the measures).

Canceling the optimisation cancels its studies (the cascade of parked parents), and they their
runs; a study that does not succeed fails the optimisation with its fold and error.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import model_key, read_lineage
from tradeopt_common.errors import AppError, ValidationFailed
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobCanceled, JobContext, job_function
from tradeopt_common.logging import get_logger
from tradeopt_ml.evaluation import FoldModel, ModelSubject, walk_forward_report
from tradeopt_ml.tuning import Objective, ObjectiveUnavailable, objective_value, parse_search_space
from tradeopt_ml.tuning.walkforward import neighbour_rank_correlations, parameter_stability
from tradeopt_tuning import service, service_wfo
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.models import StudyStatus, TrialState
from tradeopt_tuning.schemas_wfo import WalkForwardCreate

log = get_logger(__name__)

#: How the stability measures are defined (stored with them).
STABILITY_DEFINITION = (
    "parameters: per searched hyperparameter, the folds' best values — numbers: mean, std "
    "(ddof 1), IQR, min, max, std / (high - low) of the search range, and the same spread of "
    "log10 values for log-scaled ranges; categoricals: the modal value and its share of the "
    "folds. rank_correlations: for each pair of neighbouring folds, Spearman's rank correlation "
    "of the complete trials' objectives over the trials whose sampled parameters are identical "
    "in both folds (the studies' samplers are seeded per trial number, so with one seed the "
    "random start-up trials draw the same parameters in every fold); null for fewer than 3 "
    "matched trials or a constant side."
)


def _objective_of(metrics: dict[str, Any], objective: Objective) -> float | None:
    """The objective as the trials measured it (``max_drawdown``: its depth) of an out-of-sample
    metric row, ``None`` when the row lacks it.
    """
    try:
        return objective_value(metrics, objective)
    except ObjectiveUnavailable:
        return None


def _start_studies(
    ctx: JobContext, settings: TuningSettings, optimization: Any, body: WalkForwardCreate
) -> None:
    """Step 1 (see the module docstring); parks, never returns."""
    started: list[uuid.UUID] = []
    try:
        job_ids = []
        for fold in optimization.folds:
            study = ctx.db(
                lambda s, f=fold: service_wfo.create_fold_study(  # type: ignore[misc]
                    s,
                    ctx.store,
                    ctx.dispatcher,
                    body,
                    f,
                    created_by=optimization.created_by,
                    max_attempts=settings.job_max_attempts,
                    max_trials=settings.tuning_max_trials,
                    max_parallelism=settings.tuning_max_parallelism,
                )
            )
            started.append(study.id)
            job_ids.append(study.job_id)
            ctx.check()
        ctx.wait_for(
            job_ids,
            state={"studies": [str(s) for s in started]},
            progress=(0.05, 0.85),
            message=f"{len(job_ids)} fold studies running",
        )
    except JobCanceled:
        # Studies not adopted yet (canceled before it parked); adopted ones go with the cascade.
        for study_id in started:
            with contextlib.suppress(AppError):  # ended already
                ctx.db(lambda s, i=study_id: service.cancel_study(s, ctx.dispatcher, i))  # type: ignore[misc]
        raise


def _fold_results(ctx: JobContext, optimization: Any) -> list[dict[str, Any]]:
    """Each fold's study, best trial and complete trials; a clear error when one did not
    succeed.
    """
    results = []
    for fold in optimization.folds:
        study_id = uuid.UUID(fold["study_id"])
        study = ctx.db(lambda s, i=study_id: service.get_study(s, i))  # type: ignore[misc]
        if study.status != StudyStatus.SUCCEEDED or not study.best_trial:
            raise ValidationFailed(
                f"fold {fold['index']}'s study {study_id} {study.status}"
                + (f": {study.error}" if study.error else " without a complete trial")
            )
        trials = ctx.db(lambda s, i=study_id: service.list_trials(s, i, TrialState.COMPLETE))  # type: ignore[misc]
        results.append({"fold": fold, "study": study, "trials": list(trials)})
    return results


def _fold_models(ctx: JobContext, results: list[dict[str, Any]], workdir: Path) -> list[FoldModel]:
    models = []
    for entry in results:
        fold, study = entry["fold"], entry["study"]
        model_id = study.best_model_id
        if model_id is None:
            raise ValidationFailed(f"fold {fold['index']}'s best trial has no model")
        lineage = read_lineage(ctx.store, model_id)
        if lineage is None:
            raise ValidationFailed(f"model {model_id} of fold {fold['index']} no longer exists")
        path = workdir / f"{model_id}.zip"
        ctx.store.download_file(model_key(model_id), path)
        models.append(
            FoldModel(
                index=fold["index"],
                train=fold["in_sample"],
                test=fold["out_of_sample"],
                test_start=pd.Timestamp(fold["out_of_sample"]["start"]),
                test_end=pd.Timestamp(fold["out_of_sample"]["end"]),
                model=ModelSubject(f"model:{model_id}", lineage, path),
                run_id=str(lineage.run_id),
            )
        )
    return models


@job_function(TaskName.TUNING_OPTIMIZE_WALK_FORWARD)
def optimize_walk_forward(
    ctx: JobContext, *, settings: TuningSettings | None = None
) -> dict[str, Any]:
    """Run a walk-forward optimisation (see the module docstring)."""
    settings = settings or get_tuning_settings()
    optimization_id = uuid.UUID(ctx.params[f"{service_wfo.RESOURCE}_id"])
    optimization = ctx.db(lambda s: service_wfo.get_optimization(s, optimization_id))
    body = WalkForwardCreate.model_validate(optimization.request)
    if "studies" not in ctx.state:
        ctx.progress(0.02, f"starting {optimization.n_folds} fold studies", force=True)
        _start_studies(ctx, settings, optimization, body)
    results = _fold_results(ctx, optimization)
    ctx.progress(0.86, "backtesting each fold's frozen parameters out of sample", force=True)
    manifest = read_manifest(ctx.store, optimization.dataset_id)
    if manifest is None or manifest.checksum != optimization.dataset_checksum:
        raise ValidationFailed(f"dataset {optimization.dataset_id} is gone or changed")
    bars, panel = service_wfo.load_panel(ctx.store, manifest, body.symbols)
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-wfo-{optimization_id}-") as tmp:
        models = _fold_models(ctx, results, Path(tmp))
        try:
            report = walk_forward_report(
                bars,
                panel,
                models,
                cost_bps=body.cost_bps,
                slippage_bps=body.slippage_bps,
                title=f"Walk-forward optimisation {optimization_id}",
            )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
    ctx.check()
    folds = []
    for entry, oos in zip(results, report.values["comparison"], strict=True):
        fold, study = entry["fold"], entry["study"]
        best = study.best_trial
        folds.append(
            {
                **fold,
                "study_status": study.status,
                "best_trial": {k: best[k] for k in ("number", "params", "value")},
                "model_id": str(study.best_model_id),
                "in_sample_objective": best["value"],
                "out_of_sample_objective": _objective_of(oos, body.objective),
                "out_of_sample_metrics": {
                    k: v
                    for k, v in oos.items()
                    if k not in ("fold", "run_id", "model_id", "train", "test")
                },
                "buy_and_hold_total_return": oos.get("buy_and_hold_total_return"),
            }
        )
    space = parse_search_space(body.algorithm, body.search_space)
    stability = {
        "parameters": parameter_stability([f["best_trial"]["params"] for f in folds], space),
        "rank_correlations": neighbour_rank_correlations(
            [[(t.params, float(t.value)) for t in e["trials"]] for e in results]
        ),
        "definition": STABILITY_DEFINITION,
    }
    ctx.store.put_bytes(
        service_wfo.artifact_key(optimization_id, "equity.json"),
        json.dumps(report.series).encode(),
        content_type="application/json",
    )
    ctx.store.put_bytes(
        service_wfo.artifact_key(optimization_id, "report.html"),
        report.html.encode(),
        content_type="text/html",
    )
    update = service_wfo.WalkForwardUpdate(
        folds=folds,
        metrics=report.values["metrics"],
        benchmarks=report.values["benchmarks"],
        statistics=report.values["statistics"],
        stability=stability,
        bars=report.values["bars"],
    )
    ctx.db(lambda s: service_wfo.update_optimization(s, optimization_id, update))
    log.info(
        "walk_forward.finished",
        optimization_id=str(optimization_id),
        folds=len(folds),
        sharpe=report.values["metrics"].get("sharpe"),
    )
    return {"optimization_id": str(optimization_id), "folds": len(folds)}
