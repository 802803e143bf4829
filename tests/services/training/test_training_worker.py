"""Training through the API with a real training worker process (threads pool), real beat
(reaper), PostgreSQL, Redis and S3: a small PPO on the SPY sample, a cancel mid-run, and a worker
killed mid-run whose job resumes from its last checkpoint and finishes exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.jobrun import ingest
from tests.support.processes import (
    celery_beat,
    celery_worker,
    free_port,
    stop_all,
    wait_worker_ready,
)
from tests.support.runs import small_ppo

pytestmark = pytest.mark.integration
WORKER_APP = "tradeopt_training.worker:celery_app"
PPO = small_ppo(n_steps=256, n_epochs=2, seed=5)


@pytest.fixture
def start_worker(fleet_env, log_dir):
    started = []

    def _start(name: str = "training-worker"):
        env = {**fleet_env, "TRADING_OPT_WORKER_METRICS_PORT": str(free_port())}
        worker = celery_worker(WORKER_APP, "training,maintenance", env, log_dir, name=name)
        worker.metrics_url = f"http://127.0.0.1:{env['TRADING_OPT_WORKER_METRICS_PORT']}/metrics"
        worker.start()
        wait_worker_ready(worker)
        started.append(worker)
        return worker

    yield _start
    stop_all(started)


async def _wait_run(client: httpx.AsyncClient, run_id: str, predicate, timeout: float = 120):
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        run = (await client.get(f"/api/v1/runs/{run_id}")).json()
        if predicate(run):
            return run
        if run["status"] in ("failed",) and not predicate(run):
            raise AssertionError(run)
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} never matched: {run}")


def _ended(run: dict) -> bool:
    return run["status"] in ("succeeded", "failed", "canceled")


async def test_ppo_on_spy_through_a_real_worker(client, training_client, start_worker):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    worker = start_worker()
    body = {"dataset_id": spy["id"], **PPO, "total_timesteps": 1024, "eval_every": 512}
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    events = []
    async with training_client.stream("GET", f"/api/v1/runs/{run['id']}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                events.append(line)
    done = await _wait_run(training_client, run["id"], _ended)
    assert done["status"] == "succeeded", done
    assert done["timesteps"] == 1024 and done["model_id"]
    assert '"succeeded"' in events[-1] and len(events) >= 2
    model = (await training_client.get(f"/api/v1/models/{done['model_id']}")).json()
    assert model["run_id"] == run["id"]
    # the periodic validations are the job's reports, readable while it runs (and after)
    job = (await training_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
    assert [r["step"] for r in job["reports"]] == [512, 1024]
    assert all(isinstance(r["mean_reward"], float) for r in job["reports"])
    metrics = httpx.get(worker.metrics_url, timeout=5).text
    assert 'tradeopt_training_steps_per_second{algorithm="ppo"}' in metrics
    assert 'tradeopt_jobs_finished_total{kind="training.train_run",status="succeeded"}' in metrics


async def test_cancel_a_running_run(client, training_client, start_worker):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    start_worker()
    body = {"dataset_id": spy["id"], **PPO, "total_timesteps": 200_000}
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    await _wait_run(
        training_client, run["id"], lambda r: r["status"] == "running" and r["timesteps"] > 0
    )
    resp = await training_client.post(f"/api/v1/runs/{run['id']}/cancel")
    assert resp.status_code == 202, resp.text
    done = await _wait_run(training_client, run["id"], _ended, timeout=60)
    assert done["status"] == "canceled" and done["model_id"] is None
    assert done["timesteps"] < 200_000
    again = await training_client.post(f"/api/v1/runs/{run['id']}/cancel")
    assert again.status_code == 409


async def test_killed_worker_resumes_from_its_checkpoint_and_finishes_once(
    client, training_client, training_app, start_worker, fleet_env, log_dir, processes
):
    from tradeopt_training.jobs import complete_checkpoints
    from tradeopt_training.models import Model

    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    processes(celery_beat(fleet_env, log_dir))
    first = start_worker("first")
    total, every = 6144, 1024
    body = {"dataset_id": spy["id"], **PPO, "total_timesteps": total, "checkpoint_every": every}
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    store = training_app.state.tradeopt.store
    run_uuid = uuid.UUID(run["id"])
    deadline = time.monotonic() + 120
    while not complete_checkpoints(store, run_uuid) or not (
        (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["timesteps"] > every
    ):
        assert time.monotonic() < deadline, "no checkpoint in time"
        await asyncio.sleep(0.2)
    first.kill()  # SIGKILL mid-run: no chance to release or finish the job
    checkpoint = complete_checkpoints(store, run_uuid)[-1]
    before = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["progress"]
    assert 0 < before < 0.95

    start_worker("second")
    seen: list[float] = []

    def watch(r: dict) -> bool:
        seen.append(r["progress"])
        return _ended(r)

    done = await _wait_run(training_client, run["id"], watch, timeout=180)
    assert done["status"] == "succeeded", done
    assert done["resumed_from"] == checkpoint >= every
    assert done["timesteps"] == total
    assert min(seen) >= 0.95 * every / total  # progress never went back to zero
    job = (await training_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
    assert job["status"] == "succeeded" and job["attempts"] == 2
    async with training_app.state.tradeopt.db.unit_of_work() as s:
        count = await s.scalar(
            select(func.count()).select_from(Model).where(Model.run_id == run_uuid)
        )
    assert count == 1
