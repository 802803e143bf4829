"""Walk-forward evaluation as one job (``evaluation.walk_forward``).

For each fold of a :class:`tradeopt_ml.data.FoldSpec` over the dataset, the job asks the training
service for a run trained on the fold's training window only (its last ``validation_fraction``
holds the validation part that picks the best model), waits for all runs, backtests each fold's
model on the fold's test window (out of sample, same costs), and stitches the test windows into one
out-of-sample equity curve with per-fold and overall metrics against buy-and-hold.

Runs are created with ``Idempotency-Key: walk-forward-{evaluation}-{fold}``, so a retried job (a
worker died) finds the runs it already started instead of training them twice.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tradeopt_common.config import CommonSettings
from tradeopt_common.contracts.datasets import read_manifest
from tradeopt_common.errors import ServiceUnavailable, ValidationFailed
from tradeopt_common.jobs.runner import JobCanceled, JobContext
from tradeopt_common.logging import get_logger
from tradeopt_evaluation.evaljob import _load, _save
from tradeopt_evaluation.service import download_model, store_report
from tradeopt_ml.data import FoldSpec, Panel, read_bars_parquet, walk_forward
from tradeopt_ml.evaluation import FoldModel, ModelSubject, walk_forward_report

log = get_logger(__name__)
TERMINAL = ("succeeded", "failed", "canceled")


class TrainingClient:
    """The training service's HTTP API, as the walk-forward job uses it (sync: jobs run in
    worker threads).
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> TrainingClient:
        """A client for ``TRADING_OPT_TRAINING_URL`` with the deployment's API key."""
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return cls(settings.training_url, key)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"training service unreachable: {exc}") from exc
        if resp.status_code >= 500:
            raise ServiceUnavailable(
                f"training service error {resp.status_code}: {resp.text[:300]}"
            )
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise ValidationFailed(f"the training service refused the run: {detail}")
        return resp.json()

    def create_run(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /api/v1/runs`` (replayed when the key was used before)."""
        return self._call(
            "POST", "/api/v1/runs", json=body, headers={"Idempotency-Key": idempotency_key}
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /api/v1/runs/{id}``."""
        return self._call("GET", f"/api/v1/runs/{run_id}")

    def cancel_run(self, run_id: str) -> None:
        """``POST /api/v1/runs/{id}/cancel`` (a finished run's 409 is ignored)."""
        with contextlib.suppress(ValidationFailed):
            self._call("POST", f"/api/v1/runs/{run_id}/cancel")

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()


def _iso(stamp: np.datetime64) -> str:
    return pd.Timestamp(stamp).tz_localize("UTC").isoformat()


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


def _wait(ctx: JobContext, client: TrainingClient, run_ids: list[str], poll: float) -> list[dict]:
    while True:
        runs = [client.get_run(rid) for rid in run_ids]
        done = sum(r["status"] in TERMINAL for r in runs)
        fraction = sum(1.0 if r["status"] in TERMINAL else r["progress"] for r in runs) / len(runs)
        ctx.progress(0.05 + 0.75 * fraction, f"training {len(runs)} folds: {done} finished")
        if done == len(runs):
            return runs
        time.sleep(poll)


def walk_forward_job(
    ctx: JobContext,
    client: TrainingClient | None = None,
    *,
    settings: CommonSettings | None = None,
    poll: float = 1.0,
) -> dict[str, Any]:
    """Run a walk-forward evaluation (see the module docstring)."""
    evaluation_id = uuid.UUID(ctx.params["evaluation_id"])
    evaluation = ctx.db(lambda s: _load(s, evaluation_id))
    request = evaluation.request
    store = ctx.store
    manifest = read_manifest(store, evaluation.dataset_id)
    if manifest is None or manifest.checksum != evaluation.dataset_checksum:
        raise ValidationFailed(f"dataset {evaluation.dataset_id} is gone or changed")
    own_client = client is None
    client = client or TrainingClient.from_settings(settings or ctx.runtime.settings)
    run_ids: list[str] = []
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
                run_ids.append(run["id"])
            runs = _wait(ctx, client, run_ids, poll)
            bad = [r for r in runs if r["status"] != "succeeded"]
            if bad:
                first = bad[0]
                raise ValidationFailed(
                    f"{len(bad)} fold run(s) did not succeed; run {first['id']} is "
                    f"{first['status']}: {first.get('error')}"
                )
            ctx.progress(0.82, "backtesting each fold out of sample")
            result = _evaluate_folds(ctx, evaluation, request, bars, panel, folds, runs, workdir)
    except JobCanceled:
        for rid in run_ids:
            client.cancel_run(rid)
        raise
    finally:
        if own_client:
            client.close()
    return result


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
    for fold, run in zip(folds, runs, strict=True):
        model_id = uuid.UUID(run["model_id"])
        lineage, path = download_model(ctx.store, model_id, workdir)
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
    ctx.db(lambda s: _save(s, evaluation.id, report.values))
    return {"evaluation_id": str(evaluation.id), "runs": [r["id"] for r in runs]}
