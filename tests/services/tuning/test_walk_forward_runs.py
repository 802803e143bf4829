"""Walk-forward optimisation with real processes: a live training API (uvicorn), two training
workers and a tuning worker on the test database, Redis and S3 server; the tuning API in process.
Tiny A2C trials on the SPY sample (2 folds x 3 trials of 128 timesteps).

The tuning worker is killed (kill -9) while the optimisation is parked on its fold studies and
a new one takes over: the optimisation still ends with every fold's study complete (one run per
trial, none twice), each fold's frozen parameters = its study's best trial, whose model trained
on exactly the fold's in-sample window (its run's ``start`` and date split) and is tested on
the next out-of-sample window; the stitched out-of-sample equity and buy-and-hold on the same
bars agree with their metrics; the stability measures are there (the seeded random start-up
trials match across folds, so the rank correlation uses all three).
"""

from __future__ import annotations

import signal

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.services.tuning.test_walk_forward_api import PATH, wfo_body
from tests.support.fleet import TRAINING_WORKER, TUNING_WORKER, live_training_fleet, until
from tests.support.jobrun import ingest

pytestmark = pytest.mark.integration
TERMINAL = ("succeeded", "failed", "canceled")


async def _ended(client: httpx.AsyncClient, path: str) -> dict | None:
    body = (await client.get(path)).json()
    return body if body["status"] in TERMINAL else None


@pytest.fixture
def fleet(fleet_env, log_dir):
    """Live training API; training x2 and tuning workers (real processes)."""
    workers = [
        (TRAINING_WORKER, "training,maintenance", "training-1"),
        (TRAINING_WORKER, "training", "training-2"),
        (TUNING_WORKER, "tuning", "tuning-1"),
    ]
    with live_training_fleet(fleet_env, log_dir, workers) as fleet:
        yield fleet


async def test_walk_forward_optimization_survives_a_worker_kill_and_reports_out_of_sample(
    client, tuning_client, fleet
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    resp = await tuning_client.post(PATH, json=wfo_body(spy["id"], parallelism=2))
    assert resp.status_code == 202, resp.text
    created = resp.json()
    path = f"{PATH}/{created['id']}"

    async def parked() -> bool:
        """The optimisation parked on its studies, and they on their trial runs: no job of the
        tuning worker is running."""
        body = (await tuning_client.get(path)).json()
        assert body["status"] not in TERMINAL, body
        if body["status"] != "waiting":
            return False
        for fold in body["folds"]:
            study = (await tuning_client.get(f"/api/v1/studies/{fold['study_id']}")).json()
            assert study["status"] not in TERMINAL, study
            if study["status"] != "waiting":
                return False
        return True

    await until(parked, 90, "the optimisation and its studies to park", 0.05)
    fleet.workers["tuning-1"].kill(signal.SIGKILL)
    fleet.spawn(TUNING_WORKER, "tuning,maintenance", "tuning-2")

    async def ended() -> dict | None:
        body = (await tuning_client.get(path)).json()
        return body if body["status"] in TERMINAL else None

    wfo = await until(ended, 150, "the optimisation to end", 0.5)
    assert wfo["status"] == "succeeded", wfo
    assert wfo["progress"] == 1.0 and len(wfo["folds"]) == 2

    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:
        for fold in wfo["folds"]:
            # an ordinary study of the service, on the fold's in-sample window
            study = (await tuning_client.get(f"/api/v1/studies/{fold['study_id']}")).json()
            assert study["status"] == "succeeded" and study["n_complete"] == 3, study
            assert fold["best_trial"]["number"] == study["best_trial"]["number"]
            assert fold["best_trial"]["params"] == study["best_trial"]["params"]
            assert fold["in_sample_objective"] == pytest.approx(study["best_trial"]["value"])
            assert fold["model_id"] == study["best_model_id"]
            runs = (
                await training.get(
                    "/api/v1/runs", params={"study_id": fold["study_id"], "limit": 50}
                )
            ).json()["items"]
            assert sorted(r["trial_number"] for r in runs) == [0, 1, 2]  # none twice
            best_run = next(r for r in runs if r["model_id"] == fold["model_id"])
            spec = best_run["spec"]
            ins = fold["in_sample"]
            assert pd.Timestamp(spec["start"]) == pd.Timestamp(ins["start"])
            assert pd.Timestamp(spec["split"]["validation_end"]) == pd.Timestamp(ins["end"])
            assert pd.Timestamp(spec["split"]["train_end"]) == pd.Timestamp(fold["train_end"])
            assert pd.Timestamp(ins["end"]) < pd.Timestamp(fold["out_of_sample"]["start"])
            oos = fold["out_of_sample_metrics"]
            assert fold["out_of_sample_objective"] == oos["sharpe"]
            assert {"total_return", "sharpe", "max_drawdown", "n_trades"} <= set(oos)
    listed = (await tuning_client.get("/api/v1/studies", params={"limit": 50})).json()["items"]
    assert {f["study_id"] for f in wfo["folds"]} <= {s["id"] for s in listed}

    # the stitched out-of-sample curve and buy-and-hold on the same bars, with their metrics
    equity = (await tuning_client.get(f"{path}/equity")).json()
    bh = (await tuning_client.get(f"{path}/equity", params={"subject": "buy_and_hold"})).json()
    assert [p["t"] for p in equity] == [p["t"] for p in bh]
    assert len(equity) == 60 + 59  # two 60-bar windows chained (each window's returns)
    assert equity[0]["t"][:10] == wfo["folds"][0]["out_of_sample"]["start"][:10]
    values = np.array([p["equity"] for p in equity])
    assert values[-1] / values[0] - 1 == pytest.approx(wfo["metrics"]["total_return"], rel=1e-9)
    bh_values = np.array([p["equity"] for p in bh])
    bh_metrics = wfo["benchmarks"]["buy_and_hold"]
    assert bh_values[-1] / bh_values[0] - 1 == pytest.approx(bh_metrics["total_return"], rel=1e-9)
    assert set(wfo["metrics"]) >= {"sharpe", "cagr", "max_drawdown", "turnover"}
    assert "<html" in (await tuning_client.get(f"{path}/report")).text.lower()

    stability = wfo["stability"]
    lr, gamma = stability["parameters"]["learning_rate"], stability["parameters"]["gamma"]
    assert lr["values"] == [f["best_trial"]["params"]["learning_rate"] for f in wfo["folds"]]
    assert lr["std"] is not None and "log10" in lr
    assert gamma["kind"] == "categorical" and gamma["mode_share"] in (0.5, 1.0)
    (pair,) = stability["rank_correlations"]
    assert pair["folds"] == [0, 1]
    assert pair["matched"] == 3  # seeded per trial number: the same three configurations
    assert pair["spearman"] is None or -1.0 <= pair["spearman"] <= 1.0
    assert "Spearman" in stability["definition"]

    # the same request and seed again: the same trials, frozen parameters and out-of-sample result
    resp = await tuning_client.post(PATH, json=wfo_body(spy["id"], parallelism=2))
    path = f"{PATH}/{resp.json()['id']}"
    again = await until(ended, 150, "the second optimisation to end", 0.5)
    assert again["status"] == "succeeded", again
    for key in ("best_trial", "in_sample_objective", "out_of_sample_metrics"):
        assert [f[key] for f in again["folds"]] == [f[key] for f in wfo["folds"]], key
    assert (again["metrics"], again["stability"]) == (wfo["metrics"], wfo["stability"])


async def test_cancel_cascades_to_the_fold_studies_and_their_runs(client, tuning_client, fleet):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = wfo_body(spy["id"], parallelism=1, timesteps_per_trial=20_000)  # one run per worker
    created = (await tuning_client.post(PATH, json=body)).json()
    path = f"{PATH}/{created['id']}"
    study_ids = [f["study_id"] for f in created["folds"]]

    async with httpx.AsyncClient(base_url=fleet.training_url, headers=client.headers) as training:

        async def training_runs() -> bool:
            """The optimisation parked, and every fold study parked on a trial run training."""
            body = (await tuning_client.get(path)).json()
            assert body["status"] not in TERMINAL, body
            if body["status"] != "waiting":
                return False
            for study_id in study_ids:
                study = (await tuning_client.get(f"/api/v1/studies/{study_id}")).json()
                params = {"study_id": study_id, "limit": 50}
                runs = (await training.get("/api/v1/runs", params=params)).json()["items"]
                if study["status"] != "waiting" or not any(r["status"] == "running" for r in runs):
                    return False
            return True

        await until(training_runs, 90, "every fold's trial runs to train", 0.1)
        resp = await tuning_client.post(f"{path}/cancel")
        assert resp.status_code == 202, resp.text

        async def all_ended() -> list | None:
            runs = []
            for study_id in study_ids:
                params = {"study_id": study_id, "limit": 50}
                runs += (await training.get("/api/v1/runs", params=params)).json()["items"]
            return runs if all(r["status"] in TERMINAL for r in runs) else None

        runs = await until(all_ended, 60, "every trial run to end", 0.2)
    wfo = (await tuning_client.get(path)).json()
    assert wfo["status"] == "canceled", wfo  # it was waiting: canceled at once
    for study_id in study_ids:  # a study in the middle of a step stops at its next check
        study = await until(
            lambda i=study_id: _ended(tuning_client, f"/api/v1/studies/{i}"), 30, "the study"
        )
        assert study["status"] == "canceled", study
    assert "canceled" in {r["status"] for r in runs}  # stopped mid-training
    assert (await tuning_client.post(f"{path}/cancel")).status_code == 409
    assert (await tuning_client.get(f"{path}/equity")).status_code == 409
