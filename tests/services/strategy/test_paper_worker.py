"""Paper sessions through real strategy worker processes (threads pool), a real beat (reaper),
PostgreSQL, Redis and S3: a worker killed (SIGKILL) mid-replay resumes at the next unprocessed
bar with exactly one order per decision bar and the final equity of an uninterrupted replay;
the kill switch halts two running sessions (flat); a synthetic crash halts a session at the
first bar that breaches its max drawdown.
"""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.services.strategy.conftest import evaluate, replay, train_model
from tests.support.jobrun import ingest
from tests.support.processes import celery_beat, celery_worker, free_port, wait_worker_ready

pytestmark = pytest.mark.integration
WORKER_APP = "tradeopt_strategy.worker:celery_app"
RANGE = {"start": "2019-01-01T00:00:00Z", "end": "2020-06-30T00:00:00Z"}


@pytest.fixture
def start_worker(fleet_env, log_dir):
    started = []

    def _start(name: str = "strategy-worker"):
        env = {**fleet_env, "TRADING_OPT_WORKER_METRICS_PORT": str(free_port())}
        worker = celery_worker(WORKER_APP, "strategy,maintenance", env, log_dir, name=name)
        worker.start()
        wait_worker_ready(worker)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()


async def _strategy(client, training_client, evaluation_client, strategy_client, **risk) -> tuple:
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    model_id = await train_model(training_client, spy["id"])
    await evaluate(evaluation_client, {"model_id": model_id, "dataset_id": spy["id"]})
    body = {"model_id": model_id, "risk": risk}
    strategy = (await strategy_client.post("/api/v1/strategies", json=body)).json()
    return spy, strategy


async def _wait(client: httpx.AsyncClient, sid: str, predicate, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    paper = None
    while time.monotonic() < deadline:
        paper = (await client.get(f"/api/v1/paper-sessions/{sid}")).json()
        if predicate(paper):
            return paper
        assert paper["status"] != "failed", paper
        await asyncio.sleep(0.1)
    raise AssertionError(f"session {sid} never matched: {paper}")


async def test_killed_worker_resumes_at_the_next_bar_with_identical_equity(
    client, training_client, evaluation_client, strategy_client, fleet_env, log_dir, processes,
    start_worker,
):  # fmt: skip
    spy, strategy = await _strategy(client, training_client, evaluation_client, strategy_client)
    body = {"strategy_id": strategy["id"], "dataset_id": spy["id"], **RANGE}
    straight = await replay(strategy_client, body)  # uninterrupted, in-process, speed max
    assert straight["status"] == "completed" and straight["n_bars"] > 300

    processes(celery_beat(fleet_env, log_dir))
    first = start_worker("first")
    resp = await strategy_client.post("/api/v1/paper-sessions", json={**body, "speed": 80})
    sid = resp.json()["id"]
    half = await _wait(strategy_client, sid, lambda p: p["n_bars"] >= 60)
    first.kill()  # SIGKILL mid-replay: no chance to release the job or commit anything more
    assert half["status"] == "running" and half["n_bars"] < straight["n_bars"]
    start_worker("second")
    done = await _wait(strategy_client, sid, lambda p: p["status"] == "completed", timeout=180)

    assert done["equity"] == straight["equity"]  # bit for bit
    # the book's counters and the stored bars agree (a bar and its counters commit together)
    assert done["n_bars"] == straight["n_bars"] and done["n_orders"] == straight["n_orders"]
    job = (await strategy_client.get(f"/api/v1/jobs/{done['job_id']}")).json()
    assert job["attempts"] == 2 and job["status"] == "succeeded"
    base = f"/api/v1/paper-sessions/{sid}"
    equity = (await strategy_client.get(f"{base}/equity")).json()
    assert [e["seq"] for e in equity] == list(range(done["n_bars"]))  # each bar exactly once
    straight_eq = (
        await strategy_client.get(f"/api/v1/paper-sessions/{straight['id']}/equity")
    ).json()
    assert [e["equity"] for e in equity] == [e["equity"] for e in straight_eq]
    orders = (await strategy_client.get(f"{base}/orders")).json()
    assert len(orders) == done["n_orders"] and len({o["t"] for o in orders}) == len(orders)
    parity = (await strategy_client.get(f"{base}/parity")).json()
    assert parity["ok"] and parity["n_divergences"] == 0


async def test_kill_switch_halts_two_running_sessions(
    client, training_client, evaluation_client, strategy_client, start_worker
):
    spy, strategy = await _strategy(client, training_client, evaluation_client, strategy_client)
    start_worker("one")
    start_worker("two")
    ids = []
    for _ in range(2):
        body = {"strategy_id": strategy["id"], "dataset_id": spy["id"], "speed": 40}
        ids.append((await strategy_client.post("/api/v1/paper-sessions", json=body)).json()["id"])
    for sid in ids:
        await _wait(strategy_client, sid, lambda p: p["status"] == "running" and p["n_bars"] > 5)
    resp = await strategy_client.post("/api/v1/strategies/halt-all", json={"reason": "drill"})
    assert resp.status_code == 200 and sorted(resp.json()["halted"]) == sorted(ids)
    at_halt = {
        sid: (await strategy_client.get(f"/api/v1/paper-sessions/{sid}")).json() for sid in ids
    }
    for sid in ids:
        done = await _wait(strategy_client, sid, lambda p: p["status"] == "halted", timeout=60)
        assert done["halt_reason"] == "kill switch: drill"
        assert done["units"] == [0.0] and done["position"] == [0.0]  # flat
        # halted within a bar or two of the request (one bar in flight, then the flatten)
        assert done["n_bars"] - at_halt[sid]["n_bars"] <= 3
        equity = (await strategy_client.get(f"/api/v1/paper-sessions/{sid}/equity")).json()
        assert equity[-1]["decision"] == "flatten" and equity[-1]["position"] == 0.0
        assert all(e["decision"] != "flatten" for e in equity[:-1])
    again = await strategy_client.post("/api/v1/strategies/halt-all", json={})
    assert again.json()["halted"] == []


def _crash_csv() -> bytes:
    """600 business days: a gentle, noisy uptrend, then from bar 450 a 0.8 %/day crash for 40
    days, then noise again (seeded)."""
    rng = np.random.default_rng(7)
    n = 600
    rets = 0.0005 + 0.01 * rng.standard_normal(n)
    rets[450:490] = -0.008 + 0.002 * rng.standard_normal(40)
    close = 100 * np.cumprod(1 + rets)
    open_ = close / (1 + 0.002 * rng.standard_normal(n))
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
            "open": open_,
            "high": np.maximum(open_, close) * 1.003,
            "low": np.minimum(open_, close) * 0.997,
            "close": close,
            "volume": 1_000_000,
        }
    )
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


async def test_a_crash_breaches_max_drawdown_and_halts_flat(
    client, training_client, evaluation_client, strategy_client
):
    resp = await client.post(
        "/api/v1/datasets",
        files={"file": ("crash.csv", _crash_csv(), "text/csv")},
        data={"symbol": "CRASH"},
    )
    assert resp.status_code == 201, resp.text
    crash = resp.json()
    split = {"train_end": "2021-01-29", "validation_end": "2021-06-30"}
    model_id = await train_model(
        training_client, crash["id"], split=split,
        env={"window": 8, "episode_length": 128, "allow_short": False, "bust_fraction": 0.0,
             "features": {"features": ["log_return", "rsi"]}},
    )  # fmt: skip
    await evaluate(evaluation_client, {"model_id": model_id, "dataset_id": crash["id"]})
    body = {"model_id": model_id, "risk": {"max_drawdown": 0.05}}
    strategy = (await strategy_client.post("/api/v1/strategies", json=body)).json()
    paper = await replay(
        strategy_client, {"strategy_id": strategy["id"], "dataset_id": crash["id"]}
    )
    assert paper["status"] == "halted", paper
    assert paper["halt_reason"].startswith("max_drawdown breached")
    assert paper["units"] == [0.0] and paper["position"] == [0.0]
    base = f"/api/v1/paper-sessions/{paper['id']}"
    equity = (await strategy_client.get(f"{base}/equity")).json()
    values = np.array([100_000.0] + [e["equity"] for e in equity])
    drawdown = values / np.maximum.accumulate(values) - 1
    first_breach = int(np.flatnonzero(drawdown <= -0.05)[0])
    # the flatten was decided at the first breaching bar's close: it is the last decision
    assert first_breach == len(values) - 2
    last = equity[-1]
    assert last["decision"] == "flatten" and last["reason"] == paper["halt_reason"]
    assert last["decided_at"] == equity[-2]["t"]
    assert all(e["decision"] != "flatten" for e in equity[:-1])
    orders = (await strategy_client.get(f"{base}/orders")).json()
    # the flatten is an order when something was held (the policy may have sold already)
    flat = [o for o in orders if o["t"] == last["decided_at"]]
    assert all(o["kind"] == "flatten" for o in flat)
    assert equity[-1]["position"] == 0.0  # flat afterwards; the session takes no more bars
    parity = (await strategy_client.get(f"{base}/parity")).json()
    assert not parity["ok"] and parity["session_bars"] < parity["backtest_bars"]
