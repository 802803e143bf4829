"""The strategy service's HTTP contract with jobs run in-process (real PostgreSQL, Redis, S3):
promotion needs an evaluation on record, strategies, signals (and their 422 shortfalls), a
replay of SPY's test split by a trained PPO strategy with zero divergence from the evaluation
backtest, and auth on every route."""

from __future__ import annotations

import uuid

import httpx
import numpy as np
import pytest

from tests.conftest import API_KEY
from tests.services.strategy.conftest import evaluate, replay, train_model
from tests.support.jobrun import ingest
from tradeopt_ml.data import load_sample

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def _bars(n: int, end: int | None = None) -> list[dict]:
    frame = load_sample("SPY")
    frame = frame.iloc[: end if end is not None else len(frame)].tail(n)
    return [
        {
            "t": r.timestamp.isoformat(),
            "open": r.open,
            "high": r.high,
            "low": r.low,
            "close": r.close,
            "adj_close": r.adj_close,
            "volume": r.volume,
        }
        for r in frame.itertuples()
    ]


async def test_spy_strategy_end_to_end(client, training_client, evaluation_client, strategy_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    model_id = await train_model(training_client, spy["id"])

    # no evaluation on record yet: 409 naming what is missing
    body = {"model_id": model_id, "symbol": "SPY", "risk": {"max_position": 1.0}}
    refused = await strategy_client.post("/api/v1/strategies", json=body)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(PROBLEM)
    assert (
        "no succeeded evaluation" in refused.json()["detail"]
        and model_id in refused.json()["detail"]
    )
    for bad in (
        {**body, "model_id": str(uuid.uuid4())},
        {**body, "symbol": "TLT"},
        {**body, "risk": {"max_drawdown": 1.5}},
        {**body, "risk": {"allowed_hours": ["25:00-26:00"]}},
    ):
        resp = await strategy_client.post("/api/v1/strategies", json=bad)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)

    evaluation = await evaluate(
        evaluation_client, {"model_id": model_id, "dataset_id": spy["id"], "split": "test"}
    )
    resp = await strategy_client.post("/api/v1/strategies", json=body)
    assert resp.status_code == 201, resp.text
    strategy = resp.json()
    assert strategy["evaluation_id"] == evaluation["id"] and strategy["state"] == "active"
    assert strategy["symbols"] == ["SPY"] and strategy["risk"]["max_position"] == 1.0
    sid = strategy["id"]
    assert resp.headers["location"] == f"/api/v1/strategies/{sid}"
    assert (await strategy_client.get(f"/api/v1/strategies/{sid}")).json() == strategy
    listed = (await strategy_client.get("/api/v1/strategies", params={"state": "active"})).json()
    assert [s["id"] for s in listed["items"]] == [sid]

    # signals: the exact shortfall, then a decision
    short = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": _bars(5)})
    assert short.status_code == 422 and "too few bars: 5 given" in short.json()["detail"]
    gappy = _bars(80)
    del gappy[40:50]
    resp = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": gappy})
    assert resp.status_code == 422
    assert any("gap" in e["msg"] and e["loc"][2] == 40 for e in resp.json()["errors"])
    bad = _bars(80)
    bad[3]["high"] = bad[3]["low"] / 2
    resp = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": bad})
    assert resp.status_code == 422 and resp.json()["errors"][0]["loc"] == [
        "body",
        "bars",
        3,
        "high",
    ]
    resp = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": _bars(80)})
    assert resp.status_code == 200, resp.text
    signal = resp.json()
    assert signal["model_id"] == model_id and signal["symbol"] == "SPY"
    assert signal["action"] in ("short", "flat", "long")
    assert signal["target_position"] in (-1.0, 0.0, 1.0)
    assert signal["as_of"].startswith(_bars(1)[0]["t"][:10])
    again = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": _bars(80)})
    assert again.json() == signal  # deterministic

    # replay of the test split: zero divergence from the evaluation backtest
    paper = await replay(strategy_client, {"strategy_id": sid, "dataset_id": spy["id"]})
    assert paper["status"] == "completed", paper
    assert paper["part"] == "test" and paper["n_bars"] > 100
    parity = (await strategy_client.get(f"/api/v1/paper-sessions/{paper['id']}/parity")).json()
    assert parity["ok"] and parity["n_divergences"] == 0, parity["divergences"][:3]
    assert parity["max_abs_equity_diff"] <= 1e-9
    assert parity["bars_compared"] == parity["backtest_bars"] == paper["n_bars"]
    assert parity["fills_session"] == parity["fills_backtest"] == paper["n_orders"]
    assert parity["final_equity_session"] == pytest.approx(
        parity["final_equity_backtest"], abs=1e-9
    )
    base = f"/api/v1/paper-sessions/{paper['id']}"
    equity = (await strategy_client.get(f"{base}/equity")).json()
    assert len(equity) == paper["n_bars"] and equity[-1]["equity"] == paper["equity"]
    eval_equity = (
        await evaluation_client.get(f"/api/v1/evaluations/{evaluation['id']}/equity")
    ).json()
    # the evaluation's own stored series (its fast path) agrees bar for bar
    assert np.allclose(
        [e["equity"] for e in equity], [e["equity"] for e in eval_equity[1:]], rtol=0, atol=1e-9
    )
    orders = (await strategy_client.get(f"{base}/orders", params={"limit": 10000})).json()
    fills = (await strategy_client.get(f"{base}/fills", params={"limit": 10000})).json()
    assert len(orders) == len(fills) == paper["n_orders"]
    assert len({o["t"] for o in orders}) == len(orders)  # one order per decision bar at most
    assert {f["order_id"] for f in fills} == {o["id"] for o in orders}
    positions = (await strategy_client.get(f"{base}/positions")).json()
    assert positions[0]["symbol"] == "SPY" and positions[0]["units"] == paper["units"][0]
    # the session is over: stop is a 409; a paused strategy gives no signal and no session
    assert (await strategy_client.post(f"{base}/stop")).status_code == 409
    patched = await strategy_client.patch(f"/api/v1/strategies/{sid}", json={"state": "paused"})
    assert patched.status_code == 200 and patched.json()["state"] == "paused"
    resp = await strategy_client.post(f"/api/v1/strategies/{sid}/signal", json={"bars": _bars(80)})
    assert resp.status_code == 409
    resp = await strategy_client.post(
        "/api/v1/paper-sessions", json={"strategy_id": sid, "dataset_id": spy["id"]}
    )
    assert resp.status_code == 409
    await strategy_client.patch(f"/api/v1/strategies/{sid}", json={"state": "stopped"})
    resp = await strategy_client.patch(f"/api/v1/strategies/{sid}", json={"state": "active"})
    assert resp.status_code == 409


async def test_every_route_needs_a_key_and_its_scope(strategy_app, strategy_client):
    from tradeopt_common.auth.keys import Scope, create_key

    async with strategy_app.state.tradeopt.db.unit_of_work() as s:
        _, read = await create_key(s, "reader", [Scope.READ])
        _, write = await create_key(s, "writer", [Scope.READ, Scope.WRITE])
    open_paths = {"/healthz", "/readyz", "/metrics"}
    some_id = str(uuid.uuid4())
    routes = [
        (method.upper(), path.replace("{strategy_id}", some_id).replace("{session_id}", some_id))
        for path, ops in strategy_app.openapi()["paths"].items()
        if path not in open_paths
        for method in ops
    ]
    assert any("/api/v1/strategies" in p for _, p in routes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=strategy_app), base_url="http://strategy.test"
    ) as anon:
        for method, path in routes:
            if path == "/api/v1/auth/session":
                continue  # log in (the key comes in the body) and out (harmless without one)
            resp = await anon.request(method, path, json={})
            assert resp.status_code == 401, (method, path, resp.status_code)
            if (
                path.startswith(("/api/v1/strategies", "/api/v1/paper-sessions"))
                and method != "GET"
            ):
                resp = await anon.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {read}"}
                )
                # every write needs the write scope; a signal only reads (404: unknown id)
                expected = 404 if path.endswith("/signal") else 403
                assert resp.status_code == expected, (method, path, resp.status_code)
        resp = await anon.post(
            "/api/v1/strategies/halt-all", json={}, headers={"Authorization": f"Bearer {write}"}
        )
        assert resp.status_code == 403  # the kill switch needs the admin scope
    resp = await strategy_client.post("/api/v1/strategies/halt-all", json={})
    assert resp.status_code == 200 and resp.json() == {"halted": [], "reason": "kill switch"}
    assert API_KEY  # the admin client used the bootstrap key
