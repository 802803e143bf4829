"""Walk-forward evaluation as a parked parent job, with real processes: a live training API
(uvicorn), one training worker, one evaluation worker of concurrency 1. The job creates one run
per fold over HTTP, parks (the evaluation worker is free meanwhile), survives a kill -9 of its
worker while parked, resumes when the last fold run ends, and stitches the folds' test windows
into one out-of-sample curve; canceling it cancels every fold run. Also: request validation and
the fold run layout."""

from __future__ import annotations

import signal
from datetime import datetime

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.fleet import EVALUATION_WORKER, TRAINING_WORKER, live_training_fleet, until
from tests.support.jobrun import ingest

pytestmark = pytest.mark.integration
#: The queues of an evaluation worker of concurrency 1 (threads pool, one process).
EVALUATION_QUEUES = "evaluation,maintenance"
RUN = {
    "algorithm": "a2c",
    "total_timesteps": 128,
    "seed": 3,
    "hyperparams": {"n_steps": 16},
    "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
}


def test_fold_run_layout_trains_on_the_fold_window_only():
    from tradeopt_evaluation.jobs import fold_run_body

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


async def test_plain_dates_bounding_the_folds_are_utc(client, evaluation_client):
    """Item 20: plain dates as the folds' ``start``/``end`` (the most natural input) were a 500
    ("naive datetime given"); a date is UTC, and an inclusive ``end`` covers its whole day."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    folds = {"train_bars": 500, "test_bars": 100, "start": "2015-01-02", "end": "2020-12-31"}
    resp = await evaluation_client.post(
        "/api/v1/evaluations/walk-forward",
        json={"dataset_id": spy["id"], "run": RUN, "folds": folds},
    )
    assert resp.status_code == 202, resp.text
    created = (await evaluation_client.get(f"/api/v1/evaluations/{resp.json()['id']}")).json()
    assert created["start"] == "2015-01-02T00:00:00Z"
    assert created["end"] == "2020-12-31T23:59:59.999999Z"


@pytest.fixture
def live_fleet(fleet_env, log_dir):
    """A live training API, one training worker and ONE evaluation worker (concurrency 1), all
    real processes on the test database, Redis and S3 server."""
    workers = [
        (TRAINING_WORKER, "training,maintenance", "training"),
        (EVALUATION_WORKER, EVALUATION_QUEUES, "eval-1"),
    ]
    with live_training_fleet(fleet_env, log_dir, workers) as fleet:
        yield fleet


async def _job(client: httpx.AsyncClient, job_id: str) -> dict:
    return (await client.get(f"/api/v1/jobs/{job_id}")).json()


async def _fold_runs(training: httpx.AsyncClient, parent: dict) -> list[dict]:
    ids = [r["id"] for r in parent["state"]["runs"]]
    return [(await training.get(f"/api/v1/runs/{rid}")).json() for rid in ids]


async def _start_walk_forward(client, evaluation_client, timesteps: int) -> tuple[dict, dict]:
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = {
        "dataset_id": spy["id"],
        "run": {**RUN, "total_timesteps": timesteps},
        "folds": {"train_bars": 750, "test_bars": 250, "max_folds": 4, "embargo_bars": 2},
        "cost_bps": 2,
    }
    resp = await evaluation_client.post("/api/v1/evaluations/walk-forward", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()

    async def parked() -> dict | None:
        job = await _job(evaluation_client, created["job_id"])
        assert job["status"] not in ("failed", "canceled", "succeeded"), job
        return job if job["status"] == "waiting" else None

    parent = await until(parked, 60, "the walk-forward job to park")
    assert len(parent["state"]["runs"]) == 4 and parent["worker"] is None
    # the default deadline: a walk-forward gives up after 24 h instead of waiting forever
    deadline = datetime.fromisoformat(parent["deadline_at"]) - datetime.fromisoformat(
        parent["created_at"]
    )
    assert abs(deadline.total_seconds() - 24 * 3600) < 5
    evaluation = (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()
    assert evaluation["status"] == "waiting"
    return spy, created


async def test_walk_forward_parks_frees_its_worker_and_survives_a_kill_9(
    client, evaluation_client, live_fleet
):
    """4 folds, one evaluation worker of concurrency 1, one training worker: (a) while the folds
    train the evaluation worker runs another evaluation to completion; (b) kill -9 of the
    evaluation worker while the parent is parked loses nothing and trains each fold once."""
    spy, created = await _start_walk_forward(client, evaluation_client, timesteps=1024)
    headers = client.headers
    async with httpx.AsyncClient(base_url=live_fleet.training_url, headers=headers) as training:
        # (a) the only evaluation worker is free: an ordinary evaluation runs to completion
        other = await evaluation_client.post(
            "/api/v1/evaluations", json={"dataset_id": spy["id"], "baseline": "buy_and_hold"}
        )
        assert other.status_code == 202, other.text

        async def other_done() -> dict | None:
            job = await _job(evaluation_client, other.json()["job_id"])
            return job if job["status"] in ("succeeded", "failed", "canceled") else None

        finished = await until(other_done, 60, "the ordinary evaluation")
        assert finished["status"] == "succeeded", finished
        parent = await _job(evaluation_client, created["job_id"])
        folds = await _fold_runs(training, parent)
        assert parent["status"] == "waiting"  # still parked: the folds were still training
        assert sum(r["status"] == "succeeded" for r in folds) < 4, folds

        # (b) kill -9 of the evaluation worker while the parent is parked, then a new worker
        eval_1 = live_fleet.workers["eval-1"]
        eval_1.kill(signal.SIGKILL)
        eval_1.proc.wait(10)
        live_fleet.spawn(EVALUATION_WORKER, EVALUATION_QUEUES, "eval-2")

        async def wf_done() -> dict | None:
            job = await _job(evaluation_client, created["job_id"])
            return job if job["status"] in ("succeeded", "failed", "canceled") else None

        job = await until(wf_done, 120, "the walk-forward to finish")
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 1 and job["wakeups"] >= 1  # wake-ups are not attempts
        folds = await _fold_runs(training, job)
        assert [r["status"] for r in folds] == ["succeeded"] * 4
        runs = (await training.get("/api/v1/runs", params={"limit": 50})).json()["items"]
        assert len(runs) == 4  # each fold trained exactly once
        for run in folds:
            fold_job = await _job(evaluation_client, run["job_id"])
            assert fold_job["attempts"] == 1 and fold_job["parent_id"] == created["job_id"]
    done = (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()
    assert done["status"] == "succeeded"
    assert [f["fold"] for f in done["comparison"]] == [0, 1, 2, 3]
    assert {f["run_id"] for f in done["comparison"]} == {r["id"] for r in folds}
    equity = (await evaluation_client.get(f"/api/v1/evaluations/{done['id']}/equity")).json()
    values = np.array([p["equity"] for p in equity])
    growth = np.prod([1 + f["total_return"] for f in done["comparison"]])
    assert values[-1] / values[0] == pytest.approx(growth, rel=1e-9)
    assert done["metrics"]["total_return"] == pytest.approx(growth - 1, rel=1e-9)
    # a retried first step reuses the runs it created: the same Idempotency-Key replays the run
    from tradeopt_common.clients.training import TrainingClient

    key = client.headers["authorization"].removeprefix("Bearer ")
    training_client = TrainingClient(live_fleet.training_url, key)
    fold_body = {**RUN, "dataset_id": spy["id"]}
    first = training_client.create_run(fold_body, f"walk-forward-{done['id']}-9")
    again = training_client.create_run(fold_body, f"walk-forward-{done['id']}-9")
    training_client.close()
    assert first["id"] == again["id"]


async def test_cancel_of_the_parked_walk_forward_cancels_every_fold_run(
    client, evaluation_client, live_fleet
):
    _, created = await _start_walk_forward(client, evaluation_client, timesteps=200_000)
    url = live_fleet.training_url
    async with httpx.AsyncClient(base_url=url, headers=client.headers) as training:
        parent = await _job(evaluation_client, created["job_id"])

        async def one_training() -> bool:
            return any(r["status"] == "running" for r in await _fold_runs(training, parent))

        await until(one_training, 60, "a fold run to start training")
        resp = await evaluation_client.post(f"/api/v1/jobs/{created['job_id']}/cancel")
        assert resp.status_code == 202, resp.text
        assert resp.json()["status"] == "canceled"

        async def all_canceled() -> list[dict] | None:
            folds = await _fold_runs(training, parent)
            return folds if all(r["status"] == "canceled" for r in folds) else None

        folds = await until(all_canceled, 60, "every fold run to end canceled")
        for run in folds:
            assert (await _job(evaluation_client, run["job_id"]))["status"] == "canceled"
    evaluation = (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()
    assert evaluation["status"] == "canceled"
