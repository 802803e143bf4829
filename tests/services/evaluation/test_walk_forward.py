"""Walk-forward evaluation as one job: the evaluation job asks a live training API (uvicorn) for
one run per fold, a real training worker trains them, and the job stitches the folds' test
windows into one out-of-sample curve. Also: request validation and the fold run layout."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.jobrun import ingest, run_job
from tests.support.live import live_api
from tests.support.processes import celery_worker, wait_worker_ready

pytestmark = pytest.mark.integration
RUN = {
    "algorithm": "a2c",
    "total_timesteps": 128,
    "seed": 3,
    "hyperparams": {"n_steps": 16},
    "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
}


def test_fold_run_layout_trains_on_the_fold_window_only():
    from tradeopt_evaluation.walkforward import fold_run_body

    stamps = pd.bdate_range("2020-01-01", periods=200).to_numpy(dtype="datetime64[ns]")
    body = fold_run_body(RUN, "00000000-0000-0000-0000-000000000001", stamps, (50, 150), 0.2)
    assert body["start"].startswith(str(stamps[50])[:10])
    assert body["split"]["validation_end"].startswith(str(stamps[149])[:10])
    assert body["split"]["train_end"].startswith(str(stamps[129])[:10])
    assert body["algorithm"] == "a2c" and "split" not in RUN


async def test_invalid_walk_forward_requests_are_422(client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    base = {"dataset_id": spy["id"], "run": RUN, "folds": {"train_bars": 500, "test_bars": 100}}
    for body in (
        {**base, "run": {**RUN, "split": {"train": 0.5}}},
        {**base, "folds": {"train_bars": 500, "test_bars": 100, "step_bars": 50}},
        {**base, "folds": {"train_bars": 5, "test_bars": 100}},
        {**base, "validation_fraction": 0.9},
        {**base, "folds": {"train_bars": 500}},
    ):
        resp = await evaluation_client.post("/api/v1/evaluations/walk-forward", json=body)
        assert resp.status_code == 422, (body, resp.text)


@pytest.fixture
def live_training(fleet_env, log_dir, monkeypatch):
    worker = celery_worker(
        "tradeopt_training.worker:celery_app", "training,maintenance", fleet_env, log_dir
    )
    with live_api("tradeopt_training.app:create_app", fleet_env, log_dir, "training-api") as base:
        worker.start()
        wait_worker_ready(worker)
        # the evaluation job (run in this process) reaches the training service through its URL
        from tradeopt_common.config import get_settings
        from tradeopt_common.jobs.runtime import reset_runtime

        monkeypatch.setenv("TRADING_OPT_TRAINING_URL", base)
        get_settings.cache_clear()
        reset_runtime()
        try:
            yield base
        finally:
            worker.stop()


async def test_walk_forward_trains_each_fold_and_stitches_out_of_sample(
    client, evaluation_client, live_training
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = {
        "dataset_id": spy["id"],
        "run": RUN,
        "folds": {"train_bars": 750, "test_bars": 250, "max_folds": 3, "embargo_bars": 2},
        "cost_bps": 2,
    }
    resp = await evaluation_client.post("/api/v1/evaluations/walk-forward", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert created["kind"] == "walk_forward"
    job = await run_job(evaluation_client, created["job_id"])
    assert job["status"] == "succeeded", job
    done = (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()
    folds = done["comparison"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    for fold in folds:
        assert fold["train"]["stop"] + 2 == fold["test"]["start"]
        assert fold["test"]["stop"] - fold["test"]["start"] == 250
    runs = {f["run_id"] for f in folds}
    assert len(runs) == 3 and len({f["model_id"] for f in folds}) == 3
    async with httpx.AsyncClient(base_url=live_training, headers=client.headers) as training:
        for fold in folds:
            run = (await training.get(f"/api/v1/runs/{fold['run_id']}")).json()
            assert run["status"] == "succeeded"
            assert run["spec"]["start"] is not None  # trained on its own window only
    equity = (await evaluation_client.get(f"/api/v1/evaluations/{done['id']}/equity")).json()
    values = np.array([p["equity"] for p in equity])
    growth = np.prod([1 + f["total_return"] for f in folds])
    assert values[-1] / values[0] == pytest.approx(growth, rel=1e-9)
    assert done["metrics"]["total_return"] == pytest.approx(growth - 1, rel=1e-9)
    assert done["benchmarks"]["buy_and_hold"]["total_return"] is not None
    assert len(done["sharpe_ci"]) == 2 and done["bars"]["folds"] == 3
    report = await evaluation_client.get(f"/api/v1/evaluations/{done['id']}/report")
    assert report.status_code == 200 and "walk_forward" in report.text
    # a retried job reuses the runs it created: the same Idempotency-Key replays the run
    from tradeopt_evaluation.walkforward import TrainingClient

    key = client.headers["authorization"].removeprefix("Bearer ")
    training_client = TrainingClient(live_training, key)
    fold_body = {**RUN, "dataset_id": spy["id"]}
    first = training_client.create_run(fold_body, f"walk-forward-{done['id']}-9")
    again = training_client.create_run(fold_body, f"walk-forward-{done['id']}-9")
    training_client.close()
    assert first["id"] == again["id"]
