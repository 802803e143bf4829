"""The evaluation service's HTTP contract with jobs run in-process: request validation, a
baseline on the real SPY sample (metrics, benchmarks, statistics, cost sensitivity, series,
trades, report), a trained model evaluated out of sample, and a comparison of two models."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest

from tests.support.jobrun import ingest, run_job
from tests.support.runs import small_ppo
from tradeopt_ml.evaluation import CORE_METRICS

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
RUN = small_ppo(total_timesteps=256)


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


async def _model(training_client, dataset_id: str, seed: int) -> str:
    run = (
        await training_client.post(
            "/api/v1/runs", json={"dataset_id": dataset_id, **RUN, "seed": seed}
        )
    ).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    return (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]


async def _evaluate(evaluation_client, body: dict, path: str = "/api/v1/evaluations") -> dict:
    resp = await evaluation_client.post(path, json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert resp.headers["location"] == f"/api/v1/evaluations/{created['id']}"
    job = await run_job(evaluation_client, created["job_id"])
    assert job["status"] == "succeeded", job
    return (await evaluation_client.get(f"/api/v1/evaluations/{created['id']}")).json()


async def test_invalid_requests_are_422(evaluation_client, spy):
    base = {"dataset_id": spy["id"]}
    for body in (
        base,
        {**base, "baseline": "buy_and_hold", "model_id": str(uuid.uuid4())},
        {**base, "baseline": "astrology"},
        {**base, "model_id": str(uuid.uuid4())},
        {"dataset_id": str(uuid.uuid4()), "baseline": "flat"},
        {**base, "baseline": "flat", "split": "test", "start": "2020-01-01T00:00:00Z"},
        {
            **base,
            "baseline": "flat",
            "start": "2021-01-01T00:00:00Z",
            "end": "2020-01-01T00:00:00Z",
        },
        {**base, "baseline": "flat", "cost_bps": -1},
        {**base, "baseline": "flat", "level": 0.5},
        {**base, "baseline_params": {"fast": 5}, "model_id": str(uuid.uuid4())},
        # a range the dataset's bars do not reach (issue 16 #21)
        {**base, "baseline": "flat", "start": "2031-01-01"},
        {**base, "baseline": "flat", "end": "1990-12-31"},
    ):
        resp = await evaluation_client.post("/api/v1/evaluations", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
    resp = await evaluation_client.post(
        "/api/v1/evaluations/compare", json={**base, "model_ids": [str(uuid.uuid4())] * 2}
    )
    assert resp.status_code == 422
    assert (await evaluation_client.get("/api/v1/evaluations")).json()["items"] == []
    missing = await evaluation_client.get(f"/api/v1/evaluations/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_baseline_on_spy_reports_everything(evaluation_client, spy):
    body = {"dataset_id": spy["id"], "baseline": "sma_crossover", "cost_bps": 5, "level": 0.1}
    done = await _evaluate(evaluation_client, body)
    assert done["status"] == "succeeded" and done["part"] == "test"
    metrics = done["metrics"]
    for name in (*CORE_METRICS, "alpha", "beta", "information_ratio", "var_95"):
        assert name in metrics, name
    assert set(done["benchmarks"]) >= {"buy_and_hold", "flat", "momentum", "random"}
    assert done["benchmarks"]["flat"]["total_return"] == 0.0
    assert done["benchmarks"]["random"]["seeds"] >= 1
    lo, hi = done["sharpe_ci"]
    assert lo <= metrics["sharpe"] <= hi
    assert done["deflated_sharpe"] is None  # not a tuned model
    rows = done["cost_sensitivity"]
    assert [r["cost_multiplier"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    totals = [r["total_return"] for r in rows]
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]
    assert done["bars"]["decisions"] > 100 and done["bars"]["fill"] == "next_open"
    verdicts = done["verdicts"]
    assert verdicts["available"] and verdicts["candidates"] == ["sma_crossover"]
    assert {p["benchmark"] for p in verdicts["pairs"]} == {"buy_and_hold", "flat", "momentum"}
    for pair in verdicts["pairs"]:
        assert pair["verdict"] in {"beats", "worse", "not distinguishable"}
        assert pair["family_size"] == 1 and pair["p_value_adjusted"] == pair["p_value"]
        lo, hi = pair["sharpe_difference_ci"]
        assert lo <= pair["sharpe_difference"] <= hi and pair["level"] == 0.1
    assert done["comparison"][0]["verdicts"].keys() == {"buy_and_hold", "flat", "momentum"}

    base = f"/api/v1/evaluations/{done['id']}"
    equity = (await evaluation_client.get(f"{base}/equity")).json()
    assert len(equity) == done["bars"]["decisions"] + 1
    assert set(equity[0]) >= {"t", "equity", "drawdown", "position"}
    assert equity[-1]["equity"] / equity[0]["equity"] - 1 == pytest.approx(metrics["total_return"])
    bh = (await evaluation_client.get(f"{base}/equity", params={"subject": "buy_and_hold"})).json()
    assert len(bh) == len(equity)
    trades = (await evaluation_client.get(f"{base}/trades")).json()
    assert trades and {"entry_time", "exit_time", "entry_price", "pnl", "costs"} <= set(trades[0])
    # one contract (issue 16 #16/#25): instants are ISO 8601 UTC with Z everywhere, the open
    # trade at the end is flagged, names round-trip, and the row states the bars it covered
    iso_z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
    assert re.match(iso_z, equity[0]["t"]) and re.match(iso_z, trades[0]["entry_time"])
    for trade in trades:
        assert trade["open"] is (trade["exit_time"] is None)
        assert trade["exit_time"] is None or re.match(iso_z, trade["exit_time"])
    assert [t["open"] for t in trades].count(True) <= 1 and not any(t["open"] for t in trades[:-1])
    for subject in [*done["subjects"], "flat", "sma_crossover", "momentum"]:  # every benchmark
        named = await evaluation_client.get(f"{base}/equity", params={"subject": subject})
        assert named.status_code == 200, (subject, named.text)
        assert len(named.json()) == len(equity)
    assert done["start"] is not None and done["end"] is not None
    assert done["start"].startswith(done["bars"]["start"][:10]) and re.match(
        iso_z, done["bars"]["end"]
    )
    assert done["diagnostics"]["n_orders"] == done["metrics"]["n_orders"]
    report = await evaluation_client.get(f"{base}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "buy_and_hold" in report.text and "<svg" in report.text and "http://" not in report.text
    bad = await evaluation_client.get(f"{base}/equity", params={"subject": "nope"})
    assert bad.status_code == 422


async def test_buy_and_hold_zero_costs_is_the_price_ratio(evaluation_client, spy):
    body = {"dataset_id": spy["id"], "baseline": "buy_and_hold", "cost_bps": 0, "slippage_bps": 0}
    done = await _evaluate(evaluation_client, body)
    equity = (await evaluation_client.get(f"/api/v1/evaluations/{done['id']}/equity")).json()
    values = np.array([p["equity"] for p in equity])
    assert done["metrics"]["total_return"] == pytest.approx(values[-1] / values[0] - 1, rel=1e-12)


async def test_a_trained_model_out_of_sample_and_a_comparison(
    client, training_client, evaluation_client, spy
):
    first = await _model(training_client, spy["id"], 1)
    done = await _evaluate(evaluation_client, {"dataset_id": spy["id"], "model_id": first})
    assert done["model_id"] == first and done["bars"]["start"].startswith("2020-01")
    assert done["metrics"]["n_bars"] == done["bars"]["decisions"] + 1 or done["metrics"]["n_bars"]
    assert "flags" in done["diagnostics"]
    assert done["statistics"]["probabilistic_sharpe"] is not None
    assert len(done["cost_sensitivity"]) == 4
    listed = (await evaluation_client.get("/api/v1/evaluations", params={"model_id": first})).json()
    assert [e["id"] for e in listed["items"]] == [done["id"]]

    second = await _model(training_client, spy["id"], 2)
    compared = await _evaluate(
        evaluation_client,
        {"dataset_id": spy["id"], "model_ids": [first, second], "baselines": ["buy_and_hold"]},
        path="/api/v1/evaluations/compare",
    )
    subjects = [row["subject"] for row in compared["comparison"]]
    assert subjects == [f"model:{first}", f"model:{second}", "buy_and_hold"]
    # every model vs every reference baseline, adjusted over the two models per benchmark
    verdicts = compared["verdicts"]
    models = [f"model:{first}", f"model:{second}"]
    assert verdicts["candidates"] == models
    pairs = verdicts["pairs"]
    assert {(p["subject"], p["benchmark"]) for p in pairs} == {
        (m, b) for m in models for b in ("buy_and_hold", "flat", "sma_crossover", "momentum")
    }
    for pair in pairs:
        assert pair["family_size"] == 2 and pair["p_value_adjusted"] >= pair["p_value"]
        expected = "not distinguishable"
        if pair["p_value_adjusted"] < 0.05:
            expected = "beats" if pair["sharpe_difference"] > 0 else "worse"
        assert pair["verdict"] == expected
    assert [f["benchmark"] for f in verdicts["families"]] == [
        "buy_and_hold",
        "flat",
        "sma_crossover",
        "momentum",
    ]
    # the two models differ only by seed: one run spec over seeds 1 and 2
    (spec,) = verdicts["specs"]
    assert spec["seeds"] == [1, 2] and spec["subjects"] == models
    assert spec["sharpe"]["min"] <= spec["sharpe"]["mean"] <= spec["sharpe"]["max"]
    assert len(spec["verdicts"]) == 4
    assert 0.0 <= verdicts["pbo"]["pbo"] <= 1.0 and verdicts["pbo"]["n_trials"] == 2
    row = compared["comparison"][0]
    assert row["verdicts"]["buy_and_hold"]["verdict"] == pairs[0]["verdict"]
    assert len(row["sharpe_ci"]) == 2
    # the dataset and the models are now referenced by evaluations
    assert (await client.delete(f"/api/v1/datasets/{spy['id']}")).status_code == 409


async def test_a_model_evaluation_on_a_split_states_the_dates_it_covered(
    training_client, evaluation_client, spy
):
    """Item 24: an evaluation on a split part reported ``start``/``end`` as null; a model's
    evaluation (its own split) states the first and last bar it covered, like a baseline's."""
    model = await _model(training_client, spy["id"], 1)
    done = await _evaluate(
        evaluation_client, {"dataset_id": spy["id"], "model_id": model, "split": "test"}
    )
    assert done["part"] == "test"
    assert done["start"] is not None and done["end"] is not None, done
    assert done["start"][:10] == done["bars"]["start"][:10] == "2020-01-02"
    assert done["end"][:10] == done["bars"]["end"][:10]

    # one rule for split parts: a baseline given the model run's split covers the same bars;
    # without it, its own default 70/15/15 split (and says so in start/end)
    baseline = {"dataset_id": spy["id"], "baseline": "buy_and_hold", "split": "test"}
    same = await _evaluate(evaluation_client, {**baseline, "split_spec": RUN["split"]})
    assert (same["start"], same["end"]) == (done["start"], done["end"])
    assert same["bars"]["decisions"] == done["bars"]["decisions"]
    default = await _evaluate(evaluation_client, baseline)
    assert default["start"][:10] != done["start"][:10]
    for body, field in (
        ({**baseline, "split_spec": RUN["split"], "baseline": None, "model_id": model}, None),
        ({**baseline, "split": None, "start": "2020-01-02", "split_spec": RUN["split"]}, None),
        ({**baseline, "split_spec": {"train_end": "1990-01-01"}}, "train_end"),
        ({**baseline, "split_spec": {"embargo": 10**9}}, "embargo"),
        ({**baseline, "split_spec": {"train": 0.7, "train_end": "2015-12-31"}}, None),
    ):
        resp = await evaluation_client.post("/api/v1/evaluations", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert "split_spec" in resp.text, resp.text
        if field:
            assert resp.json()["errors"][0]["loc"] == ["body", "split_spec", field]


async def test_plain_dates_on_a_comparison_of_models_are_utc(
    training_client, evaluation_client, spy
):
    """Item 20: plain dates on ``/evaluations/compare`` (the most natural input) were a 500
    ("naive datetime given"); a date is UTC, and an inclusive ``end`` covers its whole day."""
    model = await _model(training_client, spy["id"], 1)
    done = await _evaluate(
        evaluation_client,
        {"dataset_id": spy["id"], "model_ids": [model], "start": "2020-01-02", "end": "2023-09-29"},
        path="/api/v1/evaluations/compare",
    )
    # the row states the bars it covered: the end date's own bar is in
    assert (done["start"], done["end"]) == ("2020-01-02T00:00:00Z", "2023-09-29T00:00:00Z")


async def test_a_model_that_busts_early_is_reported_not_crashed(
    training_client, evaluation_client, spy
):
    body = {
        "dataset_id": spy["id"],
        **RUN,
        "env": {**RUN["env"], "bust_fraction": 0.999, "allow_short": True},
    }
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model_id = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    done = await _evaluate(evaluation_client, {"dataset_id": spy["id"], "model_id": model_id})
    equity = (await evaluation_client.get(f"/api/v1/evaluations/{done['id']}/equity")).json()
    bh = (
        await evaluation_client.get(
            f"/api/v1/evaluations/{done['id']}/equity", params={"subject": "buy_and_hold"}
        )
    ).json()
    if done["bars"]["terminated_early"]:
        assert len(equity) < len(bh)
        assert equity[-1]["equity"] < 0.999 * equity[0]["equity"]
    else:  # a policy that never lost 0.1% (possible, e.g. always flat) ran the whole split
        assert len(equity) == len(bh)


async def test_buy_and_hold_counts_one_order_not_price_drift(evaluation_client, spy):
    done = await _evaluate(evaluation_client, {"dataset_id": spy["id"], "baseline": "buy_and_hold"})
    assert done["metrics"]["n_orders"] == 1
    assert done["benchmarks"]["flat"]["n_orders"] == 0
