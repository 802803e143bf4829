"""The bodies of the evaluation service's jobs, registered by kind for the worker's Celery tasks
(:mod:`tradeopt_evaluation.tasks`) and in-process runs. They touch the database only through
:mod:`tradeopt_evaluation.service`; an evaluation follows its job through ``service.EVALUATION``.

``evaluation.evaluate``: load the bars, the models (lineage + zip) and the baselines, call
:func:`tradeopt_ml.evaluation.run_evaluation` (backtests on the same bars and costs, metrics,
statistics, cost sensitivity, series, tear sheet) and store its report.

``evaluation.walk_forward`` is a parked parent job. For each fold of a
:class:`tradeopt_ml.data.FoldSpec` over the dataset, it asks the training service for a run trained
on the fold's training window only (its last ``validation_fraction`` holds the validation part
that picks the best model); :func:`tradeopt_ml.evaluation.walk_forward_report` backtests each
fold's model on the fold's test window (out of sample, same costs) and stitches the test windows
into one out-of-sample equity curve with per-fold and overall metrics against buy-and-hold.
It runs in two idempotent steps over its checkpoint (``ctx.state``) and holds no evaluation worker
while the folds train:

1. no ``runs`` in the state: create one run per fold with ``POST /api/v1/runs`` (``Idempotency-Key:
   walk-forward-{evaluation}-{fold}``, so a retried step finds the runs it already started), then
   ``ctx.wait_for`` their jobs with ``{"runs": [{"id", "job_id"}, …]}`` as the state: the job
   parks in ``waiting`` and the evaluation shows ``waiting``.
2. woken when the last fold run's job ended (or at once, if they all ended before it parked):
   read the runs, fail clearly if one did not succeed, else evaluate the folds and finish.

Canceling the evaluation's job cancels every fold run's job (the cascade of parked parents); the
runs end ``canceled`` through the training service's binding.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_common.clients.training import TrainingClient
from tradeopt_common.config import CommonSettings
from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.contracts.models import download_model, model_digests
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.models import JobStatus
from tradeopt_common.jobs.names import TaskName
from tradeopt_common.jobs.runner import JobCanceled, JobContext, job_function
from tradeopt_common.logging import get_logger
from tradeopt_evaluation import service
from tradeopt_evaluation.config import get_evaluation_settings
from tradeopt_evaluation.models import Evaluation
from tradeopt_evaluation.service import EvaluationUpdate, store_report
from tradeopt_ml.data import FoldSpec, Panel, read_bars_parquet, walk_forward
from tradeopt_ml.evaluation import (
    BaselineSubject,
    EvaluationRequest,
    FoldModel,
    ModelSubject,
    Subject,
    run_evaluation,
    walk_forward_report,
)
from tradeopt_ml.instants import iso_utc

log = get_logger(__name__)


@job_function(TaskName.EVALUATION_EVALUATE)
def evaluate(
    ctx: JobContext, *, random_seeds: int | None = None, bootstrap_resamples: int | None = None
) -> dict[str, Any]:
    """Run one evaluation (see the module docstring); the random-policy seeds and bootstrap
    resamples default to the service's settings.
    """
    settings = get_evaluation_settings()
    if random_seeds is None:
        random_seeds = settings.evaluation_random_seeds
    if bootstrap_resamples is None:
        bootstrap_resamples = settings.evaluation_bootstrap_resamples
    evaluation_id = uuid.UUID(ctx.params["evaluation_id"])
    evaluation = ctx.db(lambda s: service.get_evaluation(s, evaluation_id))
    store = ctx.store
    manifest = read_manifest(store, evaluation.dataset_id)
    if manifest is None or manifest.checksum != evaluation.dataset_checksum:
        raise ValidationFailed(f"dataset {evaluation.dataset_id} is gone or changed")
    request = EvaluationRequest(
        part=evaluation.part,
        split=evaluation.request.get("split_spec"),
        start=evaluation.start,
        end=evaluation.end,
        cost_bps=evaluation.cost_bps,
        slippage_bps=evaluation.slippage_bps,
        random_seeds=random_seeds,
        bootstrap_resamples=bootstrap_resamples,
        level=evaluation.request.get("level", 0.05),
        title=f"Evaluation {evaluation_id}",
    )
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-eval-{evaluation_id}-") as tmp:
        workdir = Path(tmp)
        ctx.progress(0.05, "loading bars and models", force=True)
        store.download_file(manifest.bars_key, workdir / "bars.parquet")
        bars = read_bars_parquet(workdir / "bars.parquet")
        subjects = _subjects(ctx, evaluation, workdir)
        try:
            report = run_evaluation(bars, subjects, request, progress=ctx.progress, check=ctx.check)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from exc
    ctx.progress(0.92, "storing results")
    store_report(store, evaluation_id, report)
    values = EvaluationUpdate(**report.values, **covered(report.values["bars"]))
    ctx.db(lambda s: service.update_evaluation(s, evaluation_id, values))
    return {"evaluation_id": str(evaluation_id), "subjects": report.subjects}


def covered(bars: dict[str, Any]) -> dict[str, datetime]:
    """``start``/``end`` of the evaluation row: the first and last bar it covered (whether the
    request named a split part or a date range), so results side by side state their periods.
    """
    return {
        "start": pd.Timestamp(bars["start"]).to_pydatetime(),
        "end": pd.Timestamp(bars["end"]).to_pydatetime(),
    }


def _subjects(ctx: JobContext, evaluation: Evaluation, workdir: Path) -> list[Subject]:
    subjects: list[Subject] = []
    for entry in evaluation.subjects:
        kind, _, name = entry.partition(":")
        if kind == "model":
            model_id = uuid.UUID(name)
            expected = ctx.db(lambda s, m=model_id: model_digests(s, [m]))  # type: ignore[misc]
            lineage, path = download_model(ctx.store, model_id, workdir, expected)
            subjects.append(ModelSubject(f"model:{model_id}", lineage, path))
        else:
            params = evaluation.request.get("baseline_params") or {}
            subjects.append(BaselineSubject(name, name, params))
    return subjects


def _iso(stamp: np.datetime64) -> str:
    return iso_utc(stamp)


def fold_run_body(
    template: dict[str, Any],
    dataset_id: uuid.UUID,
    timestamps: np.ndarray,
    train: tuple[int, int],
    validation_fraction: float,
) -> dict[str, Any]:
    """The run request that trains on bars ``[train[0], train[1])`` only; its last
    ``validation_fraction`` is the validation part (best-model selection).
    """
    start, stop = train
    n = stop - start
    n_val = max(2, round(n * validation_fraction))
    if n - n_val < 10:
        raise ValidationFailed(f"fold training window of {n} bars is too short")
    return {
        **template,
        "dataset_id": str(dataset_id),
        "start": _iso(timestamps[start]),
        "split": {
            "train_end": _iso(timestamps[stop - n_val - 1]),
            "validation_end": _iso(timestamps[stop - 1]),
        },
    }


@job_function(TaskName.EVALUATION_WALK_FORWARD)
def walk_forward_job(
    ctx: JobContext,
    client: TrainingClient | None = None,
    *,
    settings: CommonSettings | None = None,
) -> dict[str, Any]:
    """Run a walk-forward evaluation (see the module docstring)."""
    evaluation_id = uuid.UUID(ctx.params["evaluation_id"])
    evaluation = ctx.db(lambda s: service.get_evaluation(s, evaluation_id))
    request = evaluation.request
    store = ctx.store
    manifest = read_manifest(store, evaluation.dataset_id)
    if manifest is None or manifest.checksum != evaluation.dataset_checksum:
        raise ValidationFailed(f"dataset {evaluation.dataset_id} is gone or changed")
    own_client = client is None
    client = client or TrainingClient.from_settings(settings or ctx.runtime.settings)
    started: list[dict[str, str]] = list(ctx.state.get("runs") or [])
    try:
        with tempfile.TemporaryDirectory(prefix=f"tradeopt-wf-{evaluation_id}-") as tmp:
            workdir = Path(tmp)
            store.download_file(manifest.bars_key, workdir / "bars.parquet")
            bars = read_bars_parquet(workdir / "bars.parquet")
            symbols = request["run"].get("symbols")
            panel = Panel.from_bars(bars, symbols=symbols)
            try:
                folds = walk_forward(panel.timestamps, FoldSpec.model_validate(request["folds"]))
            except ValueError as exc:
                raise ValidationFailed(f"walk-forward folds: {exc}") from exc
            if not started:
                ctx.progress(0.02, f"starting {len(folds)} training runs", force=True)
                for fold in folds:
                    body = fold_run_body(
                        request["run"],
                        evaluation.dataset_id,
                        panel.timestamps,
                        (fold.train.start, fold.train.stop),
                        request.get("validation_fraction", 0.15),
                    )
                    run = client.create_run(body, f"walk-forward-{evaluation_id}-{fold.index}")
                    started.append({"id": run["id"], "job_id": run["job_id"]})
                ctx.wait_for(
                    [r["job_id"] for r in started],
                    state={"runs": started},
                    progress=(0.05, 0.8),
                    message=f"training {len(started)} folds",
                )
            runs = _ended_runs(ctx, client, started)
            ctx.progress(0.82, "backtesting each fold out of sample", force=True)
            result = _evaluate_folds(ctx, evaluation, request, bars, panel, folds, runs, workdir)
    except (JobCanceled, ValidationFailed):
        # Canceled: runs not adopted yet (canceled before it parked); adopted ones are canceled
        # with it. Failed for good (a refused fold, a fold that failed): the other folds' runs
        # would train for nothing. A retryable error keeps them: the retry adopts them again.
        for run in started:
            client.cancel_run(run["id"])
        raise
    finally:
        if own_client:
            client.close()
    return result


def _ended_runs(
    ctx: JobContext, client: TrainingClient, started: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """The fold runs once their jobs have ended; a clear error when one did not succeed. The
    child jobs are the truth (a run's own status may follow a moment later when its job was
    ended by a process of another service).
    """
    jobs = {str(c.id): c for c in ctx.children()}
    runs = []
    for entry in started:
        job = jobs.get(entry["job_id"])
        run = client.get_run(entry["id"])
        status = job.status if job is not None else JobStatus(run["status"])
        if status != JobStatus.SUCCEEDED or not run.get("model_id"):
            error = (job.error if job is not None else None) or run.get("error")
            raise ValidationFailed(
                f"fold run {entry['id']} did not succeed: its job is {status}"
                + (f": {error}" if error else "")
            )
        runs.append(run)
    return runs


def _evaluate_folds(
    ctx: JobContext,
    evaluation: Any,
    request: dict[str, Any],
    bars: pd.DataFrame,
    panel: Panel,
    folds: list[Any],
    runs: list[dict[str, Any]],
    workdir: Path,
) -> dict[str, Any]:
    fold_models = []
    model_ids = [uuid.UUID(run["model_id"]) for run in runs]
    expected = ctx.db(lambda s: model_digests(s, model_ids))
    for fold, run in zip(folds, runs, strict=True):
        model_id = uuid.UUID(run["model_id"])
        lineage, path = download_model(ctx.store, model_id, workdir, expected)
        fold_models.append(
            FoldModel(
                index=fold.index,
                train=fold.train.as_dict(),
                test=fold.test.as_dict(),
                test_start=pd.Timestamp(panel.timestamps[fold.test.start]).tz_localize("UTC"),
                test_end=pd.Timestamp(panel.timestamps[fold.test.stop - 1]).tz_localize("UTC"),
                model=ModelSubject(f"model:{model_id}", lineage, path),
                run_id=run["id"],
            )
        )
    try:
        report = walk_forward_report(
            bars,
            panel,
            fold_models,
            cost_bps=evaluation.cost_bps,
            slippage_bps=evaluation.slippage_bps,
            title=f"Walk-forward evaluation {evaluation.id}",
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    store_report(ctx.store, evaluation.id, report)
    values = EvaluationUpdate(**report.values, **covered(report.values["bars"]))
    ctx.db(lambda s: service.update_evaluation(s, evaluation.id, values))
    return {"evaluation_id": str(evaluation.id), "runs": [r["id"] for r in runs]}
