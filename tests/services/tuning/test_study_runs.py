"""Studies with real processes: a live training API (uvicorn), two training workers, one tuning
worker and one evaluation worker on the test database, Redis and S3 server; the tuning API in
process. Each trial is an ordinary training run (tiny A2C runs on the SPY sample).

- a 4-trial study with parallelism 2 ends with exactly 4 complete trials, one run per trial, the
  first two trials training at once; every trial model carries the study's true trial count and
  Sharpe variance, so an evaluation of the best model reports the deflated Sharpe of that count;
- the same seed with parallelism 1 gives the same trials twice;
- cancel stops new trials and cancels the running runs; resume continues to ``n_trials`` complete
  without re-running the finished trial;
- kill -9 of the tuning worker while the study is parked loses no trial and trains none twice;
- kill -9 of a training worker in the middle of a trial's run: the reaper hands the run to the
  other training worker, the study still ends with ``n_trials`` complete trials, one run each
  (trained to completion once), and no run left active;
- the best model's evaluation reports the deflated Sharpe ratio of the study's true trial count
  exactly as :func:`tradeopt_ml.evaluation.statistics.deflated_sharpe_ratio` computes it from the
  backtest's returns, and recording another trial count changes it as the formula says.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import numpy as np
import pytest

from tests.support.fleet import (
    EVALUATION_WORKER,
    TRAINING_WORKER,
    TUNING_WORKER,
    live_training_fleet,
    until,
)
from tests.support.jobrun import ingest
from tests.support.processes import celery_beat, free_port
from tests.support.studies import study_body
from tradeopt_common.jobs.runner import worker_pid
from tradeopt_ml.evaluation.statistics import deflated_sharpe_ratio

pytestmark = pytest.mark.integration
TERMINAL = ("succeeded", "failed", "canceled")


def _study(dataset_id: str, **fields) -> dict:
    ent_coef = {"type": "float", "low": 0.0, "high": 0.05}
    run = {
        "seed": 11,
        "sampler": "tpe",
        "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
        "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
        "hyperparams": {"n_steps": 16},
    }
    return study_body(dataset_id, [0.9, 0.95, 0.99], {"ent_coef": ent_coef}, {**run, **fields})


@pytest.fixture
def fleet(fleet_env, log_dir):
    """Live training API; training x2, tuning and evaluation workers (real processes); the tuning
    worker exports its Prometheus metrics on ``fleet.tuning_metrics_port``."""
    port = free_port()
    workers = [
        (TRAINING_WORKER, "training,maintenance", "training-1"),
        (TRAINING_WORKER, "training", "training-2"),
        # two maintenance consumers: a kill -9 of any one worker leaves the reaper running
        (
            TUNING_WORKER,
            "tuning,maintenance",
            "tuning-1",
            {"TRADING_OPT_WORKER_METRICS_PORT": str(port)},
        ),
        (EVALUATION_WORKER, "evaluation", "evaluation"),
    ]
    with live_training_fleet(fleet_env, log_dir, workers) as fleet:
        fleet.tuning_metrics_port = port
        yield fleet


def _worker_metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The tuning worker's Prometheus samples: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _ended(client: httpx.AsyncClient, path: str, timeout: float = 90) -> dict:
    async def ended() -> dict | None:
        body = (await client.get(path)).json()
        return body if body["status"] in TERMINAL else None

    return await until(ended, timeout, path)


async def _create(tuning_client, body: dict) -> dict:
    resp = await tuning_client.post("/api/v1/studies", json=body)
    assert resp.status_code == 202, resp.text
    return resp.json()


async def test_parallel_study_completes_and_its_best_model_reports_the_deflated_sharpe(
    client, tuning_client, evaluation_client, fleet
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    created = await _create(tuning_client, _study(spy["id"]))
    study = await _ended(tuning_client, f"/api/v1/studies/{created['id']}", 120)
    assert study["status"] == "succeeded", study
    assert (study["n_complete"], study["n_failed"], study["n_running"]) == (4, 0, 0)
    assert study["progress"] == 1.0
    trials = (await tuning_client.get(f"/api/v1/studies/{created['id']}/trials")).json()
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert all(t["state"] == "complete" and t["duration"] > 0 for t in trials)
    # parallelism 2: trials 0 and 1 were both started before either ended
    assert max(t["started_at"] for t in trials[:2]) < min(t["finished_at"] for t in trials[:2])

    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        runs = (
            await training.get("/api/v1/runs", params={"study_id": created["id"], "limit": 50})
        ).json()["items"]
        assert sorted(r["trial_number"] for r in runs) == [0, 1, 2, 3]  # one run per trial
        assert {r["id"] for r in runs} == {t["run_id"] for t in trials}
        sharpes = {r["trial_number"]: r["metrics"]["validation"]["sharpe"] for r in runs}
        for trial in trials:  # the objective is the run's validation Sharpe
            assert trial["value"] == pytest.approx(sharpes[trial["number"]])
            assert set(trial["params"]) == {"learning_rate", "gamma", "ent_coef"}
        best = max(trials, key=lambda t: (t["value"], -t["number"]))
        assert study["best_trial"]["number"] == best["number"]
        assert study["best_trial"]["value"] == pytest.approx(best["value"])
        assert study["best_model_id"] == best["model_id"]

        variance = float(np.var([sharpes[n] for n in range(4)], ddof=1))
        alias = f"study-{created['id'].replace('-', '')[:8]}-best"
        for trial in trials:  # the study outcome is on every trial's model
            model = (await training.get(f"/api/v1/models/{trial['model_id']}")).json()
            assert model["lineage"]["study"] == {
                "study_id": created["id"],
                "trial_number": trial["number"],
                "n_trials": 4,
                "trials_sharpe_variance": pytest.approx(variance, rel=1e-9),
                "pbo": study["overfitting"]["pbo"],
            }
            # the best trial's model is tagged in the registry, and only it
            assert (alias in model["aliases"]) == (trial["number"] == best["number"])
        tagged = (await training.get("/api/v1/models", params={"alias": alias})).json()["items"]
        assert [m["id"] for m in tagged] == [best["model_id"]]

    # the study's results: history (best so far), seeded fANOVA importances, figures
    base = f"/api/v1/studies/{created['id']}"
    history = (await tuning_client.get(f"{base}/history")).json()
    values = [t["value"] for t in sorted(trials, key=lambda t: t["number"])]
    assert [p["value"] for p in history["trials"]] == pytest.approx(values)
    assert history["trials"][-1]["best_so_far"] == pytest.approx(best["value"])
    assert [p["best_so_far"] for p in history["trials"]] == pytest.approx(
        list(np.maximum.accumulate(values))
    )
    importances = await tuning_client.get(f"{base}/importances")
    assert importances.status_code == 200, importances.text
    body = importances.json()
    assert body["n_complete"] == 4 and body["seed"] == 11
    assert set(body["importances"]) <= {"learning_rate", "gamma", "ent_coef"}
    assert sum(body["importances"].values()) == pytest.approx(1.0)
    assert (await tuning_client.get(f"{base}/importances")).json() == body  # seeded
    for kind in ("optimization_history", "param_importances", "slice"):
        figure = await tuning_client.get(f"{base}/plots/{kind}")
        assert figure.status_code == 200 and figure.json()["data"], (kind, figure.text)

    # the tuning worker counted the trials and timed the study
    samples = _worker_metrics(fleet.tuning_metrics_port)
    assert samples[("tradeopt_tuning_trials_ended_total", (("state", "complete"),))] == 4
    count = samples[("tradeopt_tuning_study_duration_seconds_count", (("status", "succeeded"),))]
    total = samples[("tradeopt_tuning_study_duration_seconds_sum", (("status", "succeeded"),))]
    assert count == 1 and 0 < total < 300

    best_model = study["best_model_id"]
    first = await _evaluate(evaluation_client, best_model, spy["id"])
    returns, bars_per_year = await _returns(evaluation_client, first)
    expected = deflated_sharpe_ratio(
        returns, n_trials=4, trials_sharpe_variance=variance, bars_per_year=bars_per_year
    )
    assert first["deflated_sharpe"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # the study's probability of backtest overfitting (CSCV over the 4 complete trials'
    # validation returns) is on the study and in every evaluation of its tuned model
    overfitting = study["overfitting"]
    assert overfitting["available"], overfitting
    assert 0.0 <= overfitting["pbo"] <= 1.0 and overfitting["n_trials"] == 4
    assert overfitting["n_splits"] > 1 and overfitting["n_obs"] > 30
    assert first["study_pbo"] == pytest.approx(overfitting["pbo"])
    assert first["statistics"]["study"]["n_trials"] == 4

    # the same model as if its study had tried 40 trials: the formula's lower DSR
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        outcome = {
            "study_id": created["id"],
            "trial_number": study["best_trial"]["number"],
            "n_trials": 40,
            "trials_sharpe_variance": variance,
        }
        resp = await training.put(f"/api/v1/models/{best_model}/study", json=outcome)
        assert resp.status_code == 200, resp.text
    second = await _evaluate(evaluation_client, best_model, spy["id"])
    again, _ = await _returns(evaluation_client, second)
    np.testing.assert_array_equal(again, returns)  # the same backtest
    expected_40 = deflated_sharpe_ratio(
        returns, n_trials=40, trials_sharpe_variance=variance, bars_per_year=bars_per_year
    )
    assert second["deflated_sharpe"] == pytest.approx(expected_40, rel=1e-9, abs=1e-12)
    if variance > 0:  # more trials, a higher bar: the deflated Sharpe falls
        assert second["deflated_sharpe"] < first["deflated_sharpe"]


async def _evaluate(evaluation_client, model_id: str, dataset_id: str) -> dict:
    resp = await evaluation_client.post(
        "/api/v1/evaluations",
        json={"model_id": model_id, "dataset_id": dataset_id, "split": "test"},
    )
    assert resp.status_code == 202, resp.text
    evaluation = await _ended(evaluation_client, f"/api/v1/evaluations/{resp.json()['id']}")
    assert evaluation["status"] == "succeeded", evaluation
    assert evaluation["deflated_sharpe"] is not None
    return evaluation


async def _returns(evaluation_client, evaluation: dict) -> tuple[np.ndarray, float]:
    """The evaluated model's per-bar returns (from its equity curve) and bars per year."""
    path = f"/api/v1/evaluations/{evaluation['id']}/equity"
    equity = np.array([p["equity"] for p in (await evaluation_client.get(path)).json()])
    return equity[1:] / equity[:-1] - 1.0, float(evaluation["bars"]["bars_per_year"])


async def test_same_seed_with_parallelism_1_gives_the_same_trials(client, tuning_client, fleet):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = _study(spy["id"], n_trials=3, parallelism=1, seed=5)
    first, second = [await _create(tuning_client, body) for _ in range(2)]
    results = []
    for created in (first, second):
        study = await _ended(tuning_client, f"/api/v1/studies/{created['id']}", 120)
        assert study["status"] == "succeeded", study
        trials = (await tuning_client.get(f"/api/v1/studies/{created['id']}/trials")).json()
        results.append(([t["params"] for t in trials], study["best_trial"]["params"]))
    assert results[0] == results[1]
    params = results[0][0]
    assert len(params) == 3 and params[0] != params[1] != params[2]  # each trial draws its own
    other = await _create(tuning_client, {**body, "seed": 6, "n_trials": 1})
    study = await _ended(tuning_client, f"/api/v1/studies/{other['id']}", 60)
    trials = (await tuning_client.get(f"/api/v1/studies/{other['id']}/trials")).json()
    assert trials[0]["params"] != params[0]  # another seed, another first trial


async def test_cancel_stops_new_trials_and_runs_then_resume_completes(client, tuning_client, fleet):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    slow = _study(spy["id"], n_trials=3, parallelism=1, timesteps_per_trial=4096)
    created = await _create(tuning_client, slow)
    path = f"/api/v1/studies/{created['id']}"
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:

        async def second_trial_training() -> list | None:
            trials = (await tuning_client.get(f"{path}/trials")).json()
            if len(trials) == 2 and trials[1]["run_id"]:
                run = (await training.get(f"/api/v1/runs/{trials[1]['run_id']}")).json()
                if run["status"] == "running" and run["progress"] < 0.5:
                    return trials
            return None

        trials = await until(second_trial_training, 90, "trial 1's run to train", 0.1)
        assert trials[0]["state"] == "complete"
        first_run = trials[0]["run_id"]
        resp = await tuning_client.post(f"{path}/cancel")
        assert resp.status_code == 202, resp.text
        study = await _ended(tuning_client, path)
        assert study["status"] == "canceled"
        run = await _ended(training, f"/api/v1/runs/{trials[1]['run_id']}")
        assert run["status"] == "canceled", run  # stopped mid-training
        await asyncio.sleep(2)  # no new trial after the cancel
        trials = (await tuning_client.get(f"{path}/trials")).json()
        assert len(trials) == 2 and trials[1]["state"] == "fail"
        assert (await tuning_client.post(f"{path}/cancel")).status_code == 409

        async def resumed() -> dict | None:
            resp = await tuning_client.post(f"{path}/resume")
            return resp.json() if resp.status_code == 202 else None

        body = await until(resumed, 30, "the resume to be accepted")
        assert body["status"] == "queued" and body["job_id"] != created["job_id"]
        study = await _ended(tuning_client, path, 120)
        assert study["status"] == "succeeded", study
        assert study["n_complete"] == 3
        trials = (await tuning_client.get(f"{path}/trials")).json()
        assert [t["state"] for t in trials] == ["complete", "fail", "complete", "complete"]
        assert trials[0]["run_id"] == first_run  # kept, never re-run
        runs = (
            await training.get("/api/v1/runs", params={"study_id": created["id"], "limit": 50})
        ).json()["items"]
        assert sorted(r["trial_number"] for r in runs) == [0, 1, 2, 3]


async def test_kill_9_of_the_tuning_worker_loses_no_trial_and_runs_none_twice(
    client, tuning_client, fleet
):
    """The tuning worker dies (kill -9) while the study is parked on its first two trials; a
    new worker takes the wake-ups: exactly ``n_trials`` complete trials, one run per trial."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    created = await _create(tuning_client, _study(spy["id"], timesteps_per_trial=1024))
    path = f"/api/v1/studies/{created['id']}"

    async def parked() -> dict | None:
        study = (await tuning_client.get(path)).json()
        assert study["status"] not in TERMINAL, study
        return study if study["status"] == "waiting" else None

    await until(parked, 60, "the study to park", 0.1)
    fleet.workers["tuning-1"].kill(signal.SIGKILL)
    fleet.spawn(TUNING_WORKER, "tuning,maintenance", "tuning-2")
    study = await _ended(tuning_client, path, 120)
    assert study["status"] == "succeeded", study
    assert (study["n_complete"], study["n_failed"]) == (4, 0)
    trials = (await tuning_client.get(f"{path}/trials")).json()
    assert [t["state"] for t in trials] == ["complete"] * 4
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        runs = (
            await training.get("/api/v1/runs", params={"study_id": created["id"], "limit": 50})
        ).json()["items"]
    assert sorted(r["trial_number"] for r in runs) == [0, 1, 2, 3]
    assert all(r["status"] == "succeeded" for r in runs)


async def test_kill_9_of_a_training_worker_mid_trial_trains_each_trial_to_completion_once(
    client, tuning_client, fleet, processes, log_dir
):
    """A training worker dies (kill -9) while trial 1's run trains; the reaper (beat) hands the
    run back and the other training worker trains it: ``n_trials`` complete trials, one run per
    trial, each run succeeded once, no run job left active."""
    processes(celery_beat(fleet.env, log_dir))
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = _study(spy["id"], n_trials=3, parallelism=1, timesteps_per_trial=4096)
    created = await _create(tuning_client, body)
    path = f"/api/v1/studies/{created['id']}"
    pids = {w.pid: name for name, w in fleet.workers.items() if name.startswith("training")}
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:

        async def trial_1_training() -> dict | None:
            trials = (await tuning_client.get(f"{path}/trials")).json()
            if len(trials) == 2 and trials[1]["run_id"]:
                run = (await training.get(f"/api/v1/runs/{trials[1]['run_id']}")).json()
                # mid-training (progress is reported in steps: on a quiet machine the first
                # report may already be past half way)
                if run["status"] == "running" and 0.0 < run["progress"] < 0.85:
                    return run
            return None

        run = await until(trial_1_training, 90, "trial 1's run to train", 0.1)
        job = (await tuning_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
        victim = pids[worker_pid(job["worker"])]
        fleet.workers[victim].kill(signal.SIGKILL)
        fleet.workers[victim].proc.wait(10)

        study = await _ended(tuning_client, path, 150)
        assert study["status"] == "succeeded", study
        assert (study["n_complete"], study["n_failed"], study["n_running"]) == (3, 0, 0)
        trials = (await tuning_client.get(f"{path}/trials")).json()
        assert [t["state"] for t in trials] == ["complete"] * 3
        runs = (
            await training.get("/api/v1/runs", params={"study_id": created["id"], "limit": 50})
        ).json()["items"]
        assert sorted(r["trial_number"] for r in runs) == [0, 1, 2]  # one run per trial
        assert {r["id"] for r in runs} == {t["run_id"] for t in trials}
        assert all(r["status"] == "succeeded" for r in runs)
        jobs = [(await tuning_client.get(f"/api/v1/jobs/{r['job_id']}")).json() for r in runs]
        assert all(j["status"] == "succeeded" for j in jobs)  # none orphaned, none active
        by_run = {r["id"]: j for r, j in zip(runs, jobs, strict=True)}
        assert by_run[run["id"]]["attempts"] == 2  # handed back once, then trained to the end
        assert by_run[run["id"]]["worker"] != job["worker"]
        assert sorted(j["attempts"] for j in jobs) == [1, 1, 2]
        study_job = (await tuning_client.get(f"/api/v1/jobs/{created['job_id']}")).json()
        assert study_job["status"] == "succeeded" and study_job["attempts"] == 1
