"""The body of an ``evaluation.evaluate`` job: load the bars, the models (lineage + zip) and the
baselines, call :func:`tradeopt_ml.evaluation.run_evaluation` (backtests on the same bars and costs,
metrics, statistics, cost sensitivity, series, tear sheet) and store its report.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.runner import JobContext
from tradeopt_common.logging import get_logger
from tradeopt_evaluation import service
from tradeopt_evaluation.models import Evaluation
from tradeopt_evaluation.service import EvaluationUpdate, download_model, store_report
from tradeopt_ml.data import read_bars_parquet
from tradeopt_ml.evaluation import (
    BaselineSubject,
    EvaluationRequest,
    ModelSubject,
    Subject,
    run_evaluation,
)

log = get_logger(__name__)


def evaluate(
    ctx: JobContext, *, random_seeds: int = 20, bootstrap_resamples: int = 2000
) -> dict[str, Any]:
    """Run one evaluation (see the module docstring)."""
    evaluation_id = uuid.UUID(ctx.params["evaluation_id"])
    evaluation = ctx.db(lambda s: service.get_evaluation(s, evaluation_id))
    store = ctx.store
    manifest = read_manifest(store, evaluation.dataset_id)
    if manifest is None or manifest.checksum != evaluation.dataset_checksum:
        raise ValidationFailed(f"dataset {evaluation.dataset_id} is gone or changed")
    request = EvaluationRequest(
        part=evaluation.part,
        start=evaluation.start,
        end=evaluation.end,
        cost_bps=evaluation.cost_bps,
        slippage_bps=evaluation.slippage_bps,
        random_seeds=random_seeds,
        bootstrap_resamples=bootstrap_resamples,
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
    ctx.db(lambda s: service.update_evaluation(s, evaluation_id, EvaluationUpdate(**report.values)))
    return {"evaluation_id": str(evaluation_id), "subjects": report.subjects}


def _subjects(ctx: JobContext, evaluation: Evaluation, workdir: Path) -> list[Subject]:
    subjects: list[Subject] = []
    for entry in evaluation.subjects:
        kind, _, name = entry.partition(":")
        if kind == "model":
            model_id = uuid.UUID(name)
            lineage, path = download_model(ctx.store, model_id, workdir)
            subjects.append(ModelSubject(f"model:{model_id}", lineage, path))
        else:
            params = evaluation.request.get("baseline_params") or {}
            subjects.append(BaselineSubject(name, name, params))
    return subjects
