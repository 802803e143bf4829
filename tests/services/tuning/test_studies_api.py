"""The studies API in process (real PostgreSQL, S3 server; no worker): 422 naming the field for
every bad request, 202 + ``Location`` + idempotent replay, reads, list order and filter, cancel
(202, then 409), resume (409 unless canceled or failed; a new job otherwise), the default search
spaces and the options this deployment accepts."""

from __future__ import annotations

import uuid

import pytest

from tests.support.jobrun import ingest
from tests.support.studies import study_body

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


def _study(dataset_id: str, **fields) -> dict:
    objective = {"metric": "sharpe", "direction": "maximize"}
    return study_body(dataset_id, [0.9, 0.99], {}, {"objective": objective, "seed": 7, **fields})


def _locs(resp) -> list[list[str]]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return [e["loc"] for e in resp.json()["errors"]]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"n_trials": 0}, ["body", "n_trials"]),
        ({"n_trials": -3}, ["body", "n_trials"]),
        ({"parallelism": 5}, ["body", "parallelism"]),
        ({"parallelism": 0}, ["body", "parallelism"]),
        ({"sampler": "annealing"}, ["body", "sampler"]),
        ({"pruner": "patient"}, ["body", "pruner"]),
        ({"pruner": "median"}, ["body", "eval_every"]),  # a pruner needs intermediate values
        ({"pruner": "hyperband", "eval_every": 128}, ["body", "eval_every"]),  # none before the end
        ({"objective": "alpha"}, ["body", "objective", "metric"]),
        (
            {"objective": {"metric": "sharpe", "direction": "up"}},
            ["body", "objective", "direction"],
        ),
        ({"algorithm": "xgb"}, ["body", "algorithm"]),
        ({"timesteps_per_trial": 0}, ["body", "timesteps_per_trial"]),
        (
            {"search_space": {"gamma": {"type": "float", "low": 0.99, "high": 0.9}}},
            ["body", "search_space", "gamma", "high"],
        ),
        (
            {"search_space": {"gamma": {"type": "float", "low": 0.9, "high": 1.5}}},
            ["body", "search_space", "gamma", "high"],
        ),
        (
            {"search_space": {"clip_range": {"type": "float", "low": 0.1, "high": 0.3}}},
            ["body", "search_space", "clip_range"],  # a PPO parameter, not A2C's
        ),
        (
            {"search_space": {"n_steps": {"type": "int", "low": 8}}},
            ["body", "search_space", "n_steps", "high"],
        ),
        (
            {
                "search_space": {
                    "learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}
                }
            },
            ["body", "search_space", "learning_rate", "low"],
        ),
        (
            {"hyperparams": {"gamma": 0.95}},  # fixed and searched at once
            ["body", "hyperparams"],
        ),
    ],
)
async def test_bad_requests_are_422_naming_the_field(tuning_client, spy, fields, loc):
    resp = await tuning_client.post("/api/v1/studies", json=_study(spy["id"], **fields))
    assert loc in _locs(resp), resp.json()


async def test_unknown_dataset_is_422(tuning_client, s3_server):
    resp = await tuning_client.post("/api/v1/studies", json=_study(str(uuid.uuid4())))
    assert ["body", "dataset_id"] in _locs(resp)


async def test_create_read_list_cancel_resume(tuning_client, spy):
    key = {"Idempotency-Key": "study-api-1"}
    resp = await tuning_client.post("/api/v1/studies", json=_study(spy["id"]), headers=key)
    assert resp.status_code == 202, resp.text
    study = resp.json()
    assert resp.headers["location"] == f"/api/v1/studies/{study['id']}"
    assert study["status"] == "queued" and study["n_complete"] == 0
    assert study["best_trial"] is None and study["best_model_id"] is None
    assert study["objective"] == {"metric": "sharpe", "direction": "maximize"}
    assert set(study["search_space"]) == {"learning_rate", "gamma"}
    again = await tuning_client.post("/api/v1/studies", json=_study(spy["id"]), headers=key)
    assert again.status_code == 202 and again.json()["id"] == study["id"]  # replayed

    # "objective" as just the metric name (DESIGN §3.1), default search space
    short = _study(spy["id"], objective="sortino", search_space=None, parallelism=1)
    second = (await tuning_client.post("/api/v1/studies", json=short)).json()
    assert second["objective"] == {"metric": "sortino", "direction": "maximize"}
    assert "n_steps" in second["search_space"]

    got = await tuning_client.get(f"/api/v1/studies/{study['id']}")
    assert got.status_code == 200 and got.json()["id"] == study["id"]
    listed = (await tuning_client.get("/api/v1/studies", params={"limit": 1})).json()
    assert [s["id"] for s in listed["items"]] == [second["id"]]  # newest first
    rest = await tuning_client.get("/api/v1/studies", params={"cursor": listed["next_cursor"]})
    assert [s["id"] for s in rest.json()["items"]] == [study["id"]]
    assert (await tuning_client.get(f"/api/v1/studies/{study['id']}/trials")).json() == []

    resumed = await tuning_client.post(f"/api/v1/studies/{study['id']}/resume")
    assert resumed.status_code == 409  # still queued
    canceled = await tuning_client.post(f"/api/v1/studies/{study['id']}/cancel")
    assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
    assert (await tuning_client.post(f"/api/v1/studies/{study['id']}/cancel")).status_code == 409
    by_status = await tuning_client.get("/api/v1/studies", params={"status": "canceled"})
    assert [s["id"] for s in by_status.json()["items"]] == [study["id"]]

    resumed = await tuning_client.post(f"/api/v1/studies/{study['id']}/resume")
    assert resumed.status_code == 202, resumed.text
    body = resumed.json()
    assert body["status"] == "queued" and body["job_id"] != study["job_id"]
    job = (await tuning_client.get(f"/api/v1/jobs/{body['job_id']}")).json()
    assert job["kind"] == "tuning.run_study" and job["status"] == "queued"


async def test_unknown_study_is_404(tuning_client, s3_server):
    for path in ("", "/trials", "/events"):
        resp = await tuning_client.get(f"/api/v1/studies/{uuid.uuid4()}{path}")
        assert resp.status_code == 404, (path, resp.text)
    assert (await tuning_client.post(f"/api/v1/studies/{uuid.uuid4()}/cancel")).status_code == 404


async def test_default_search_spaces_and_options(tuning_client, s3_server):
    ppo = (await tuning_client.get("/api/v1/studies/search-spaces/ppo")).json()
    assert ppo["search_space"]["learning_rate"] == {
        "type": "float",
        "low": 1e-5,
        "high": 1e-2,
        "log": True,
    }
    assert (await tuning_client.get("/api/v1/studies/search-spaces/xgb")).status_code == 422
    options = (await tuning_client.get("/api/v1/studies/options")).json()
    assert {"tpe", "random", "cmaes", "qmc", "nsga2"} <= set(options["samplers"])
    assert options["pruners"] == ["median", "successive_halving", "hyperband", "none"]
    assert options["objectives"] == [
        "sharpe",
        "sortino",
        "calmar",
        "total_return",
        "max_drawdown",
        "volatility",
        "turnover",
    ]


async def test_studies_and_trials_gauges(tuning_client, tuning_app, spy):
    from tradeopt_tuning.app import update_gauges

    created = (await tuning_client.post("/api/v1/studies", json=_study(spy["id"]))).json()
    await tuning_client.post(f"/api/v1/studies/{created['id']}/cancel")
    await update_gauges(tuning_app.state.tradeopt)
    text = (await tuning_client.get("/metrics")).text
    assert 'tradeopt_tuning_studies{status="canceled"} 1.0' in text
    assert 'tradeopt_tuning_studies{status="running"} 0.0' in text
    assert 'tradeopt_tuning_trials{state="complete"} 0.0' in text
