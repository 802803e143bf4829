"""The walk-forward optimisation API in process (real PostgreSQL, S3 server; no worker): 422
naming the field for every bad request (folds the dataset cannot hold included), 202 +
``Location`` with the folds planned (in-sample window strictly before its out-of-sample window)
and idempotent replay, reads, list, results 409 before success, cancel (202, then 409)."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from tests.support.jobrun import ingest

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
PATH = "/api/v1/walk-forward-optimizations"


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


def wfo_body(dataset_id: str, **fields) -> dict:
    """A small A2C optimisation: 2 folds of 300 in-sample and 60 out-of-sample bars."""
    return {
        "dataset_id": dataset_id,
        "algorithm": "a2c",
        "n_trials": 3,
        "parallelism": 1,
        "timesteps_per_trial": 128,
        "seed": 3,
        "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
        "hyperparams": {"n_steps": 16},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "gamma": {"type": "categorical", "choices": [0.9, 0.95, 0.99]},
        },
        "folds": {"train_bars": 300, "test_bars": 60, "max_folds": 2, "start": "2018-01-01"},
        **fields,
    }


def _locs(resp) -> list[list[str]]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return [e["loc"] for e in resp.json()["errors"]]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"folds": {"train_bars": 100_000, "test_bars": 60}}, ["body", "folds"]),
        (
            {"folds": {"train_bars": 300, "test_bars": 60, "start": "2025-06-01"}},
            ["body", "folds"],  # the range after start holds no fold
        ),
        (
            {"folds": {"train_bars": 300, "test_bars": 60, "start": "2030-01-01"}},
            ["body", "folds"],  # after the last bar
        ),
        (
            {"folds": {"train_bars": 300, "test_bars": 60, "step_bars": 30}},
            ["body", "folds"],  # overlapping out-of-sample windows cannot be stitched
        ),
        ({"folds": {"train_bars": 10, "test_bars": 60}}, ["body", "folds", "train_bars"]),
        ({"folds": {"train_bars": 300, "test_bars": 60, "bars": 3}}, ["body", "folds", "bars"]),
        ({"validation_fraction": 0.6}, ["body", "validation_fraction"]),
        ({"symbols": ["NOPE"]}, ["body", "symbols"]),
        ({"n_trials": 0}, ["body", "n_trials"]),
        ({"parallelism": 4}, ["body", "parallelism"]),
        ({"sampler": "annealing"}, ["body", "sampler"]),
        ({"objective": "alpha"}, ["body", "objective", "metric"]),
        (
            {"search_space": {"gamma": {"type": "float", "low": 0.9, "high": 1.5}}},
            ["body", "search_space", "gamma", "high"],
        ),
        ({"hyperparams": {"gamma": 0.95}}, ["body", "hyperparams"]),  # fixed and searched
        ({"split": {"train": 0.7}}, ["body", "split"]),  # each fold sets the split
    ],
)
async def test_bad_requests_are_422_naming_the_field(tuning_client, spy, fields, loc):
    resp = await tuning_client.post(PATH, json=wfo_body(spy["id"], **fields))
    assert loc in _locs(resp), resp.json()


async def test_unknown_dataset_is_422(tuning_client, s3_server):
    resp = await tuning_client.post(PATH, json=wfo_body(str(uuid.uuid4())))
    assert ["body", "dataset_id"] in _locs(resp)


async def test_create_plans_the_folds_then_read_list_cancel(tuning_client, spy):
    key = {"Idempotency-Key": "wfo-api-1"}
    resp = await tuning_client.post(PATH, json=wfo_body(spy["id"]), headers=key)
    assert resp.status_code == 202, resp.text
    wfo = resp.json()
    assert resp.headers["location"] == f"{PATH}/{wfo['id']}"
    assert wfo["status"] == "queued" and wfo["n_folds"] == 2 and len(wfo["folds"]) == 2
    assert wfo["objective"] == {"metric": "sharpe", "direction": "maximize"}
    again = await tuning_client.post(PATH, json=wfo_body(spy["id"]), headers=key)
    assert again.status_code == 202 and again.json()["id"] == wfo["id"]  # replayed

    first, second = wfo["folds"]
    for fold in wfo["folds"]:
        ins, oos = fold["in_sample"], fold["out_of_sample"]
        assert (ins["bars"], oos["bars"]) == (300, 60)
        assert pd.Timestamp(ins["start"]) >= pd.Timestamp("2018-01-01", tz="UTC")
        # trials train up to train_end, validate up to the window's end, never past it
        assert ins["start"] < fold["train_end"] < ins["end"] < oos["start"] < oos["end"]
        assert fold["best_trial"] is None and fold["out_of_sample_metrics"] is None
    assert first["out_of_sample"]["end"] < second["out_of_sample"]["start"]  # rolling, no overlap
    assert first["study_id"] != second["study_id"]

    got = await tuning_client.get(f"{PATH}/{wfo['id']}")
    assert got.status_code == 200 and got.json()["folds"] == wfo["folds"]
    listed = (await tuning_client.get(PATH, params={"dataset_id": spy["id"]})).json()
    assert [w["id"] for w in listed["items"]] == [wfo["id"]]
    equity = await tuning_client.get(f"{PATH}/{wfo['id']}/equity")
    assert equity.status_code == 409 and equity.headers["content-type"].startswith(PROBLEM)
    bad_subject = await tuning_client.get(f"{PATH}/{wfo['id']}/equity", params={"subject": "x"})
    assert ["query", "subject"] in _locs(bad_subject)

    canceled = await tuning_client.post(f"{PATH}/{wfo['id']}/cancel")
    assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
    assert (await tuning_client.post(f"{PATH}/{wfo['id']}/cancel")).status_code == 409
    job = (await tuning_client.get(f"/api/v1/jobs/{wfo['job_id']}")).json()
    assert job["kind"] == "tuning.optimize_walk_forward" and job["status"] == "canceled"


async def test_unknown_optimization_is_404(tuning_client, s3_server):
    for path in ("", "/equity", "/report", "/events"):
        resp = await tuning_client.get(f"{PATH}/{uuid.uuid4()}{path}")
        assert resp.status_code == 404, (path, resp.text)
    assert (await tuning_client.post(f"{PATH}/{uuid.uuid4()}/cancel")).status_code == 404
