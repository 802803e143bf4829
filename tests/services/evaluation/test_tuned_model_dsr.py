"""A tuned model's deflated Sharpe ratio through the APIs with real workers: two training runs
tagged as trials of one study (real training worker), the study's outcome recorded on the best
trial's model (``PUT /api/v1/models/{id}/study``, which rewrites its typed lineage), then an
evaluation by a real evaluation worker that reports the deflated Sharpe computed from the
lineage's study block — equal to the library's DSR of the same returns, trial count and
variance — and none for the trial whose study outcome was not recorded."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import numpy as np
import pytest

from tests.support.jobrun import ingest
from tests.support.processes import celery_worker, wait_worker_ready
from tests.support.runs import small_ppo

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
TRIAL = small_ppo(total_timesteps=256, seed=4)


@pytest.fixture
def workers(fleet_env, log_dir):
    started = []
    for app, queues, name in (
        ("tradeopt_training.worker:celery_app", "training,maintenance", "training-worker"),
        ("tradeopt_evaluation.worker:celery_app", "evaluation", "evaluation-worker"),
    ):
        worker = celery_worker(app, queues, fleet_env, log_dir, name=name)
        worker.start()
        started.append(worker)
    for worker in started:
        wait_worker_ready(worker)
    yield started
    for worker in reversed(started):
        worker.stop()


async def _finished(client: httpx.AsyncClient, path: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(path)).json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            assert body["status"] == "succeeded", body
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} did not finish: {body}")


async def test_a_tuned_model_reports_the_deflated_sharpe_of_its_study(
    client, training_client, evaluation_client, workers
):
    from tradeopt_ml.evaluation import deflated_sharpe_ratio

    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    study_id = str(uuid.uuid4())
    runs = []
    for number, lr in enumerate((3e-4, 1e-3)):
        body = {
            "dataset_id": spy["id"],
            **TRIAL,
            "hyperparams": {**TRIAL["hyperparams"], "learning_rate": lr},
            "study_id": study_id,
            "trial_number": number,
        }
        resp = await training_client.post("/api/v1/runs", json=body)
        assert resp.status_code == 202, resp.text
        runs.append(resp.json())
    done = [await _finished(training_client, f"/api/v1/runs/{r['id']}") for r in runs]
    values = [d["metrics"]["validation"]["sharpe"] or 0.0 for d in done]
    best = int(np.argmax(values))
    other = 1 - best
    n_trials, variance = len(values), float(np.var(values, ddof=1))
    best_model, other_model = done[best]["model_id"], done[other]["model_id"]
    trained = (await training_client.get(f"/api/v1/models/{best_model}")).json()
    assert trained["lineage"]["study"] == {
        "study_id": study_id,
        "trial_number": best,
        "n_trials": None,
        "trials_sharpe_variance": None,
        "pbo": None,
    }

    outcome = {
        "study_id": study_id,
        "trial_number": best,
        "n_trials": n_trials,
        "trials_sharpe_variance": variance,
        "pbo": 0.25,
    }
    path = f"/api/v1/models/{best_model}/study"
    for body, status in (
        ({**outcome, "study_id": str(uuid.uuid4())}, 409),  # another study
        ({**outcome, "trial_number": other}, 409),  # another trial of this study
        ({**outcome, "n_trials": 0}, 422),
        ({**outcome, "trials_sharpe_variance": -1.0}, 422),
        ({**outcome, "pbo": 1.5}, 422),
        ({k: v for k, v in outcome.items() if k != "n_trials"}, 422),
        ({**outcome, "extra": 1}, 422),
    ):
        resp = await training_client.put(path, json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
    unknown = await training_client.put(f"/api/v1/models/{uuid.uuid4()}/study", json=outcome)
    assert unknown.status_code == 404
    resp = await training_client.put(path, json=outcome)
    assert resp.status_code == 200, resp.text
    assert resp.json()["lineage"]["study"] == outcome

    resp = await evaluation_client.post(
        "/api/v1/evaluations/compare",
        json={
            "dataset_id": spy["id"],
            "model_ids": [best_model, other_model],
            "baselines": ["buy_and_hold"],
        },
    )
    assert resp.status_code == 202, resp.text
    evaluation = await _finished(evaluation_client, f"/api/v1/evaluations/{resp.json()['id']}")
    equity = (await evaluation_client.get(f"/api/v1/evaluations/{evaluation['id']}/equity")).json()
    values_eq = np.array([p["equity"] for p in equity])
    returns = values_eq[1:] / values_eq[:-1] - 1.0
    expected = deflated_sharpe_ratio(
        returns,
        n_trials=n_trials,
        trials_sharpe_variance=variance,
        bars_per_year=evaluation["bars"]["bars_per_year"],
    )
    assert evaluation["deflated_sharpe"] is not None
    assert evaluation["deflated_sharpe"] == pytest.approx(expected, rel=1e-12)
    rows = {row["subject"]: row for row in evaluation["comparison"]}
    assert rows[f"model:{best_model}"]["deflated_sharpe"] == pytest.approx(expected, rel=1e-12)
    assert rows[f"model:{other_model}"]["deflated_sharpe"] is None  # outcome not recorded
    # the study's PBO travels with the tuned model's evaluations
    assert evaluation["study_pbo"] == 0.25 and rows[f"model:{best_model}"]["study_pbo"] == 0.25
    assert evaluation["statistics"]["study"]["n_trials"] == n_trials
    assert "deflated_sharpe" not in rows["buy_and_hold"]
