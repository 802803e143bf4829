"""A two-objective NSGA-II study with real processes: a live training API (uvicorn), two training
workers and one tuning worker on the test database, Redis and S3 server; the tuning API in
process. Each trial is an ordinary training run (tiny A2C runs on the SPY sample).

Two identical studies (validation Sharpe up, drawdown depth down; same seed, parallelism 1) run
side by side: both complete every trial with the same parameters and values; the Pareto front
(``best_trials``) is exactly the non-dominated complete trials, each member's model carries the
registry alias ``study-<id8>-pareto-<number>`` and the study block (true trial count, variance of
the trials' validation Sharpe) in its lineage; history, importances and figures answer per
objective and the Pareto-front figure shows both.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.support.fleet import TRAINING_WORKER, TUNING_WORKER, live_training_fleet, until
from tests.support.jobrun import ingest
from tests.support.studies import study_body
from tradeopt_ml.tuning.results import dominates

pytestmark = pytest.mark.integration
TERMINAL = ("succeeded", "failed", "canceled")
DIRECTIONS = ["maximize", "minimize"]


@pytest.fixture
def fleet(fleet_env, log_dir):
    """Live training API; training x2 and tuning workers (real processes)."""
    workers = [
        (TRAINING_WORKER, "training,maintenance", "training-1"),
        (TRAINING_WORKER, "training", "training-2"),
        (TUNING_WORKER, "tuning,maintenance", "tuning-1"),
    ]
    with live_training_fleet(fleet_env, log_dir, workers) as fleet:
        yield fleet


def _study(dataset_id: str) -> dict:
    fields = {
        "n_trials": 3,
        "parallelism": 1,
        "seed": 21,
        "sampler": "nsga2",
        "objectives": [{"metric": "sharpe"}, {"metric": "max_drawdown"}],
        "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
        "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
        "hyperparams": {"n_steps": 16},
    }
    ent_coef = {"ent_coef": {"type": "float", "low": 0.0, "high": 0.05}}
    return study_body(dataset_id, [0.9, 0.95, 0.99], ent_coef, fields)


async def _ended(client: httpx.AsyncClient, path: str, timeout: float = 180) -> dict:
    async def ended() -> dict | None:
        body = (await client.get(path)).json()
        return body if body["status"] in TERMINAL else None

    return await until(ended, timeout, path)


async def test_two_objective_nsga2_study_has_a_non_dominated_pareto_front_and_is_seeded(
    client, tuning_client, fleet
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = _study(spy["id"])
    created = []
    for _ in range(2):
        resp = await tuning_client.post("/api/v1/studies", json=body)
        assert resp.status_code == 202, resp.text
        created.append(resp.json())
    studies, trial_lists = [], []
    for made in created:
        study = await _ended(tuning_client, f"/api/v1/studies/{made['id']}")
        assert study["status"] == "succeeded", study
        assert (study["n_complete"], study["n_failed"], study["n_running"]) == (3, 0, 0)
        studies.append(study)
        trial_lists.append((await tuning_client.get(f"/api/v1/studies/{made['id']}/trials")).json())

    # same seed, parallelism 1: the same trials, values and front twice
    first, second = trial_lists
    assert [(t["params"], t["values"]) for t in first] == [
        (t["params"], t["values"]) for t in second
    ]
    assert [m["number"] for m in studies[0]["best_trials"]] == [
        m["number"] for m in studies[1]["best_trials"]
    ]
    assert len({repr(t["params"]) for t in first}) == 3  # each trial draws its own

    study, trials = studies[0], first
    assert study["best_trial"] is None and study["best_model_id"] is None
    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        runs = (
            await training.get("/api/v1/runs", params={"study_id": study["id"], "limit": 50})
        ).json()["items"]
        validation = {r["trial_number"]: r["metrics"]["validation"] for r in runs}
        for trial in trials:  # the values are the run's Sharpe and drawdown depth
            assert trial["state"] == "complete"
            got = validation[trial["number"]]
            assert trial["values"] == pytest.approx([got["sharpe"], -got["max_drawdown"]])
            assert trial["value"] == trial["values"][0]

        # the front: exactly the complete trials no other complete trial dominates
        values = {t["number"]: t["values"] for t in trials}
        expected = [
            n
            for n, v in values.items()
            if not any(dominates(o, v, DIRECTIONS) for o in values.values())
        ]
        front = study["best_trials"]
        assert [m["number"] for m in front] == expected and expected
        for a in front:
            assert not any(dominates(v, a["values"], DIRECTIONS) for v in values.values())

        prefix = f"study-{study['id'].replace('-', '')[:8]}-pareto-"
        sharpes = [validation[n]["sharpe"] for n in range(3)]
        variance = float(np.var(sharpes, ddof=1))
        for member in front:
            assert member["alias"] == f"{prefix}{member['number']}"
            model = (await training.get(f"/api/v1/models/{member['model_id']}")).json()
            assert member["alias"] in model["aliases"]
            block = model["lineage"]["study"]
            assert block["n_trials"] == 3 and block["trial_number"] == member["number"]
            assert block["trials_sharpe_variance"] == pytest.approx(variance)
        off_front = [t for t in trials if t["number"] not in expected]
        for trial in off_front:
            model = (await training.get(f"/api/v1/models/{trial['model_id']}")).json()
            assert not any(a.startswith(prefix) for a in model["aliases"])

    base = f"/api/v1/studies/{study['id']}"
    history = (await tuning_client.get(f"{base}/history", params={"target": "max_drawdown"})).json()
    assert history["direction"] == "minimize"
    depths = [values[n][1] for n in range(3)]
    assert [p["best_so_far"] for p in history["trials"]] == pytest.approx(
        list(np.minimum.accumulate(depths))
    )
    importances = (
        await tuning_client.get(f"{base}/importances", params={"target": "max_drawdown"})
    ).json()
    assert importances["metric"] == "max_drawdown"
    assert sum(importances["importances"].values()) == pytest.approx(1.0)
    pareto = (await tuning_client.get(f"{base}/plots/pareto_front")).json()
    assert pareto["layout"]["xaxis"]["title"]["text"] == "sharpe"
    assert pareto["layout"]["yaxis"]["title"]["text"] == "max_drawdown"
    assert sum(len(trace.get("x", [])) for trace in pareto["data"]) == 3
    by_target = await tuning_client.get(
        f"{base}/plots/optimization_history", params={"target": "max_drawdown"}
    )
    assert by_target.status_code == 200, by_target.text
