"""The kill switch acts within one bar of a ``speed: max`` replay, whatever its batch size.

Definition (tradeopt_strategy.jobs): a replay batch is recorded in one transaction that
locks the session's row and reads its kill-switch flag; a batch offered after the halt was
committed is refused whole, the engine is rebuilt at the last committed bar, and the very
next bar flattens and halts. So no bar is recorded after the halt's commit except the one
that flattens. The halt is pulled (and committed) here right after the replay's first batch
commits, while its second batch is already computed: a real replay job run in-process,
PostgreSQL, S3.
"""

from __future__ import annotations

import asyncio

import pytest

import tradeopt_strategy.jobs as strategy_jobs
from tests.services.strategy.conftest import evaluate, train_model
from tests.support.jobrun import ingest, run_job
from tradeopt_common.db.session import Database
from tradeopt_strategy import service

pytestmark = pytest.mark.integration
RANGE = {"start": "2019-01-01T00:00:00Z", "end": "2020-06-30T00:00:00Z"}


async def test_kill_switch_flattens_at_the_next_bar_of_a_max_speed_replay(
    client, training_client, evaluation_client, strategy_client, fleet_env, monkeypatch
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    model_id = await train_model(training_client, spy["id"])
    await evaluate(evaluation_client, {"model_id": model_id, "dataset_id": spy["id"]})
    strategy = (
        await strategy_client.post("/api/v1/strategies", json={"model_id": model_id, "risk": {}})
    ).json()
    body = {"strategy_id": strategy["id"], "dataset_id": spy["id"], "speed": "max", **RANGE}
    resp = await strategy_client.post("/api/v1/paper-sessions", json=body)
    assert resp.status_code == 202, resp.text
    sid, job_id = resp.json()["id"], resp.json()["job_id"]

    offered: list[tuple[int, str, bool, str | None]] = []
    real_run_replay = strategy_jobs.run_replay

    async def pull_kill_switch() -> None:
        db = Database(fleet_env["TRADING_OPT_DB_URI"])
        try:
            async with db.unit_of_work() as s:
                await service.halt_all(s, "drill")
        finally:
            await db.dispose()

    def run_replay(engine, write, rebuild, **kw):
        def spying_write(records):
            future = write(records)
            control = future.result()  # committed (or refused) in its own transaction
            offered.append((len(records), records[0].applied.kind, control.written, control.halt))
            if len(offered) == 1:
                asyncio.run(pull_kill_switch())  # committed before the next batch is offered
            return future

        return real_run_replay(engine, spying_write, rebuild, **kw)

    monkeypatch.setattr(strategy_jobs, "run_replay", run_replay)
    job = await run_job(strategy_client, job_id)
    assert job["status"] == "succeeded", job

    first = strategy_jobs.FIRST_BATCH
    # batch 1 recorded; batch 2 (computed meanwhile) refused; then the flattening bar alone
    assert [o[0] for o in offered[:1]] == [first] and offered[0][2:] == (True, None)
    assert offered[1][0] > 1 and offered[1][2:] == (False, "drill")
    assert offered[2][:3] == (1, "flatten", True)
    assert len(offered) == 3

    paper = (await strategy_client.get(f"/api/v1/paper-sessions/{sid}")).json()
    assert paper["status"] == "halted" and paper["halt_reason"] == "kill switch: drill"
    assert paper["n_bars"] == first + 1  # halted within one bar of the committed halt
    assert paper["units"] == [0.0] and paper["position"] == [0.0]
    equity = (await strategy_client.get(f"/api/v1/paper-sessions/{sid}/equity")).json()
    assert [e["seq"] for e in equity] == list(range(first + 1))
    assert equity[-1]["decision"] == "flatten" and equity[-1]["position"] == 0.0
    assert all(e["decision"] != "flatten" for e in equity[:-1])
    orders = (await strategy_client.get(f"/api/v1/paper-sessions/{sid}/orders")).json()
    assert orders and all(o["seq"] <= first for o in orders)  # nothing after the flatten
    assert [o["kind"] for o in orders if o["seq"] == first] in ([], ["flatten"])
