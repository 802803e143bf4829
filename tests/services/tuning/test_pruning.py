"""Pruning: the three pruners are accepted with ``eval_every``; the intermediate values a study
reads from its runs' reports; and, with real processes (a live training API, one training worker,
one tuning worker), a study with the median pruner prunes a trial whose intermediate values are
worse than the median of the complete trials: its run is canceled mid-training (job
``canceled``), Optuna holds it ``PRUNED`` with its last intermediate value, the trial row is
``pruned`` with its intermediate values, and it counts toward ``n_trials``.
"""

from __future__ import annotations

import statistics

import httpx
import pytest

from tests.support.fleet import TRAINING_WORKER, TUNING_WORKER, live_training_fleet, until
from tests.support.jobrun import ingest
from tests.support.processes import celery_beat
from tests.support.studies import study_body
from tradeopt_ml.tuning import Objective
from tradeopt_tuning.jobs import intermediate_values

TERMINAL = ("succeeded", "failed", "canceled")


@pytest.mark.unit
def test_intermediate_values_from_reports_keep_the_first_value_and_follow_the_direction():
    reports = [
        {"step": 128, "mean_reward": 1.5},
        {"step": 256, "mean_reward": float("nan")},  # not finite: left out
        {"step": 384, "mean_reward": -2.0, "std_reward": 0.1},
        {"step": 512},  # no value
    ]
    up = Objective(metric="sharpe", direction="maximize")
    assert intermediate_values(reports, up) == {"128": 1.5, "384": -2.0}
    down = Objective(metric="sharpe", direction="minimize")  # the pruner compares in direction
    assert intermediate_values(reports, down) == {"128": -1.5, "384": 2.0}
    assert intermediate_values(reports, up, {"128": 0.25}) == {"128": 0.25, "384": -2.0}


@pytest.mark.integration
@pytest.mark.parametrize("pruner", ["median", "successive_halving", "hyperband"])
async def test_each_pruner_is_accepted_with_eval_every(client, tuning_client, pruner):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = study_body(spy["id"], [0.9, 0.99], {}, {"pruner": pruner, "eval_every": 32})
    resp = await tuning_client.post("/api/v1/studies", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["pruner"] == pruner and resp.json()["n_pruned"] == 0


@pytest.fixture
def fleet(fleet_env, log_dir, processes):
    """Training and tuning workers with the beat (reaper), as every deployment runs them: the
    reaper is the designed recovery for a wake-up message lost between commit and publish."""
    workers = [
        (TRAINING_WORKER, "training,maintenance", "training-1"),
        (TUNING_WORKER, "tuning,maintenance", "tuning-1"),
    ]
    with live_training_fleet(fleet_env, log_dir, workers) as fleet:
        processes(celery_beat(fleet.env, log_dir))
        yield fleet


async def _ended(client: httpx.AsyncClient, path: str, timeout: float) -> dict:
    async def ended() -> dict | None:
        body = (await client.get(path)).json()
        return body if body["status"] in TERMINAL else None

    return await until(ended, timeout, path)


@pytest.mark.integration
async def test_the_median_pruner_stops_a_worse_trial_and_cancels_its_run(
    client, tuning_client, fleet, fleet_env
):
    import optuna

    from tradeopt_tuning.config import get_tuning_settings
    from tradeopt_tuning.storage import study_name

    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = study_body(
        spy["id"],
        [0.9, 0.95, 0.99],
        {"ent_coef": {"type": "float", "low": 0.0, "high": 0.05}},
        {
            "n_trials": 6,
            "parallelism": 1,
            "timesteps_per_trial": 2048,
            "eval_every": 256,
            "seed": 3,
            "pruner": "median",
            "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
            "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
            "hyperparams": {"n_steps": 16},
        },
    )
    resp = await tuning_client.post("/api/v1/studies", json=body)
    assert resp.status_code == 202, resp.text
    path = f"/api/v1/studies/{resp.json()['id']}"
    study = await _ended(tuning_client, path, 240)
    assert study["status"] == "succeeded", study
    trials = (await tuning_client.get(f"{path}/trials")).json()
    complete = [t for t in trials if t["state"] == "complete"]
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, trials  # the median pruner stopped at least one trial
    # a pruned trial counts toward n_trials (it trained); none failed, none runs
    assert (study["n_complete"], study["n_pruned"]) == (len(complete), len(pruned))
    assert len(complete) + len(pruned) == 6 == len(trials)
    assert (study["n_failed"], study["n_running"]) == (0, 0)

    storage = optuna.storages.RDBStorage(get_tuning_settings().optuna_url())  # not the cached one
    opt = optuna.load_study(study_name=study_name(study["id"]), storage=storage)
    frozen = {t.number: t for t in opt.get_trials(deepcopy=False)}
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        for trial in complete:  # every evaluation of a complete run is an intermediate value
            values = {int(k): v for k, v in trial["intermediate_values"].items()}
            assert sorted(values) == list(range(256, 2049, 256))
            assert frozen[trial["number"]].intermediate_values == values
            assert frozen[trial["number"]].state == optuna.trial.TrialState.COMPLETE
        for trial in pruned:
            values = {int(k): v for k, v in trial["intermediate_values"].items()}
            step = max(values)
            assert step < 2048  # stopped before the end of its budget
            # worse than the median of the complete trials (that had finished by then) there
            earlier = [
                t
                for t in complete
                if t["number"] < trial["number"] and str(step) in t["intermediate_values"]
            ]
            assert len(earlier) >= 2  # the median pruner's startup trials
            assert values[step] < statistics.median(
                t["intermediate_values"][str(step)] for t in earlier
            )
            assert frozen[trial["number"]].state == optuna.trial.TrialState.PRUNED
            assert frozen[trial["number"]].value == pytest.approx(values[step])
            assert frozen[trial["number"]].intermediate_values == values
            assert f"pruned by the median pruner at {step} timesteps" in trial["error"]
            run = (await training.get(f"/api/v1/runs/{trial['run_id']}")).json()
            assert run["status"] == "canceled", run
            assert run["timesteps"] < 2048
            job = (await tuning_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
            assert job["status"] == "canceled"
        runs = (
            await training.get("/api/v1/runs", params={"study_id": study["id"], "limit": 50})
        ).json()["items"]
        assert sorted(r["trial_number"] for r in runs) == list(range(6))  # one run per trial
        assert all(r["status"] in ("succeeded", "canceled") for r in runs)  # none left active
    storage.engine.dispose()
