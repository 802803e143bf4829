"""Multi-objective studies through the studies API in process (real PostgreSQL, S3 server; no
worker): the ``objectives`` list and the single ``objective`` form are one model (422 naming the
field for both at once, repeated metrics, more than four, an unknown metric, a sampler that cannot
optimise several objectives, a pruner with several objectives); a created study echoes its
objectives (natural directions by default) and has no results before its first trial; a result
about an objective the study does not have is a 422 naming ``target``.
"""

from __future__ import annotations

import pytest

from tests.support.jobrun import ingest
from tests.support.studies import study_body

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
TWO = [{"metric": "sharpe", "direction": "maximize"}, {"metric": "max_drawdown"}]


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


def _study(dataset_id: str, **fields) -> dict:
    body = {"objectives": TWO, "sampler": "nsga2", "seed": 3, **fields}
    return study_body(dataset_id, [0.9, 0.99], {}, body)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"objective": "sharpe"}, ["body", "objectives"]),  # both forms at once
        ({"objectives": [{"metric": "sharpe"}, {"metric": "sharpe"}]}, ["body", "objectives"]),
        (
            {"objectives": ["sharpe", "sortino", "calmar", "total_return", "turnover"]},
            ["body", "objectives"],
        ),
        ({"objectives": []}, ["body", "objectives"]),
        ({"objectives": ["sharpe", "alpha"]}, ["body", "objectives", "1", "metric"]),
        (
            {"objectives": ["sharpe", {"metric": "volatility", "direction": "down"}]},
            ["body", "objectives", "1", "direction"],
        ),
        ({"sampler": "cmaes"}, ["body", "sampler"]),  # CMA-ES is single-objective
        ({"pruner": "median", "eval_every": 64}, ["body", "pruner"]),  # Optuna cannot prune
    ],
)
async def test_bad_multi_objective_requests_are_422_naming_the_field(
    tuning_client, spy, fields, loc
):
    resp = await tuning_client.post("/api/v1/studies", json=_study(spy["id"], **fields))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert loc in [e["loc"] for e in resp.json()["errors"]], resp.json()


async def test_objectives_are_echoed_and_results_name_the_target(tuning_client, spy):
    resp = await tuning_client.post("/api/v1/studies", json=_study(spy["id"]))
    assert resp.status_code == 202, resp.text
    study = resp.json()
    assert study["objectives"] == [
        {"metric": "sharpe", "direction": "maximize"},
        {"metric": "max_drawdown", "direction": "minimize"},  # its depth: the natural direction
    ]
    assert study["objective"] == study["objectives"][0]
    assert study["best_trial"] is None and study["best_trials"] is None

    # the single form is a list of one; a metric alone takes its natural direction
    single = (
        await tuning_client.post(
            "/api/v1/studies", json=_study(spy["id"], objectives=None, objective="turnover")
        )
    ).json()
    assert single["objectives"] == [{"metric": "turnover", "direction": "minimize"}]
    # and CMA-ES stays fine for one objective
    cma = await tuning_client.post(
        "/api/v1/studies", json=_study(spy["id"], objectives=None, sampler="cmaes")
    )
    assert cma.status_code == 202, cma.text
    assert cma.json()["objectives"] == [{"metric": "sharpe", "direction": "maximize"}]

    base = f"/api/v1/studies/{study['id']}"
    for path in ("/history", "/importances", "/plots/slice", "/plots/pareto_front"):
        bad = await tuning_client.get(base + path, params={"target": "sortino"})
        assert bad.status_code == 422, (path, bad.text)
        assert ["query", "target"] in [e["loc"] for e in bad.json()["errors"]]
    history = (await tuning_client.get(base + "/history", params={"target": "max_drawdown"})).json()
    assert (history["metric"], history["direction"], history["trials"]) == (
        "max_drawdown",
        "minimize",
        [],
    )
    assert (await tuning_client.get(base + "/plots/pareto_front")).status_code == 409  # no trial

    options = (await tuning_client.get("/api/v1/studies/options")).json()
    assert options["max_objectives"] == 4
    assert "nsga2" in options["multi_objective_samplers"]
    assert "cmaes" not in options["multi_objective_samplers"]
