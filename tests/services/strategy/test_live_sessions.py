"""Live paper sessions fed bar by bar over the API: a decision at each bar's close once the
features are warm, filled at the next bar's open; duplicate bars are a 409 and out-of-order
bars a 422 with the reason, neither creating an order; the kill switch flattens at the next
bar and halts the session."""

from __future__ import annotations

import pytest

from tests.services.strategy.conftest import ALPACA_KEY, ALPACA_SECRET, evaluated_strategy
from tradeopt_ml.data import load_sample

pytestmark = pytest.mark.integration


def _bars(n: int) -> list[dict]:
    frame = load_sample("SPY")
    frame = frame[frame["timestamp"] >= "2019-01-01"].head(n)
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


async def test_live_bars_duplicates_out_of_order_and_the_kill_switch(
    client, training_client, evaluation_client, strategy_app, strategy_client
):
    strategy = await evaluated_strategy(client, training_client, evaluation_client, strategy_client)
    resp = await strategy_client.post(
        "/api/v1/paper-sessions", json={"strategy_id": strategy["id"], "mode": "live"}
    )
    assert resp.status_code == 202, resp.text
    live = resp.json()
    assert live["status"] == "running" and live["job_id"] is None
    base = f"/api/v1/paper-sessions/{live['id']}"

    bars = _bars(50)
    steps = []
    for bar in bars[:40]:
        resp = await strategy_client.post(f"{base}/bars", json=bar)
        assert resp.status_code == 200, resp.text
        steps.append(resp.json())
    warm = [i for i, s in enumerate(steps) if s["decision"] is not None]
    assert warm and warm == list(range(warm[0], 40))  # decisions once the warm-up is filled
    for prev, step in zip(steps[warm[0] : -1], steps[warm[0] + 1 :], strict=True):
        filled = step["filled"]
        assert filled["decided_at"] == prev["decision"]["t"]  # the previous close's decision
        assert filled["filled_at"][:10] == step["session"]["last_t"][:10]  # this bar's open
    session = steps[-1]["session"]
    assert session["n_bars"] == 40 - warm[0] - 1
    orders_before = (await strategy_client.get(f"{base}/orders")).json()

    dup = await strategy_client.post(f"{base}/bars", json=bars[39])
    assert dup.status_code == 409 and "already processed" in dup.json()["detail"]
    older = {**bars[20], "t": bars[20]["t"].replace("T00:00:00", "T12:00:00")}  # never seen
    late = await strategy_client.post(f"{base}/bars", json=older)
    assert late.status_code == 422 and "out of order" in late.json()["detail"]
    assert late.json()["errors"][0]["loc"] == ["body", "t"]
    broken = {**bars[40], "high": bars[40]["low"] * 0.5}
    bad = await strategy_client.post(f"{base}/bars", json=broken)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "high"]
    after = (await strategy_client.get(base)).json()
    assert after["n_bars"] == session["n_bars"] and after["n_orders"] == session["n_orders"]
    assert (await strategy_client.get(f"{base}/orders")).json() == orders_before

    # the trading KPIs of the session on the API's /metrics
    from tradeopt_strategy.app import update_gauges

    await update_gauges(strategy_app.state.tradeopt)
    text = (await strategy_client.get("/metrics")).text
    labels = f'mode="live",session_id="{live["id"]}",strategy_id="{strategy["id"]}"'
    for name in ("equity", "drawdown", "position", "orders", "rejected_orders", "halted"):
        assert f"tradeopt_paper_{name}{{{labels}}}" in text, name
    line = next(x for x in text.splitlines() if x.startswith(f"tradeopt_paper_equity{{{labels}}}"))
    assert float(line.rsplit(" ", 1)[1]) == after["equity"]

    # the kill switch: flatten decided at the next bar, filled by the one after, then halted
    halted = (await strategy_client.post("/api/v1/strategies/halt-all", json={})).json()
    assert halted["halted"] == [live["id"]]
    step = (await strategy_client.post(f"{base}/bars", json=bars[40])).json()
    assert step["decision"]["kind"] == "flatten"
    step = (await strategy_client.post(f"{base}/bars", json=bars[41])).json()
    assert step["filled"]["decision"] == "flatten" and step["filled"]["units"] == [0.0]
    assert step["session"]["status"] == "halted" and step["session"]["position"] == [0.0]
    assert step["session"]["halt_reason"] == "kill switch: kill switch"
    more = await strategy_client.post(f"{base}/bars", json=bars[42])
    assert more.status_code == 409
    parity = await strategy_client.get(f"{base}/parity")
    assert parity.status_code == 409  # a live session has no backtest twin

    # SSE of the live session: each bar (as …/equity), its orders and fills, then the halt
    events = await _sse(strategy_client, f"{base}/events?poll=0.5")
    equity = (await strategy_client.get(f"{base}/equity")).json()
    orders = (await strategy_client.get(f"{base}/orders")).json()
    fills = (await strategy_client.get(f"{base}/fills")).json()
    assert [d for e, d in events if e == "bar"] == equity and equity
    assert [d for e, d in events if e == "order"] == orders and orders
    assert [d for e, d in events if e == "fill"] == fills and fills
    kinds = [e for e, _ in events]
    bar_at = {d["seq"]: i for i, (e, d) in enumerate(events) if e == "bar"}
    for kind, row in events:  # orders and fills come right after their bar's event
        if kind in ("order", "fill"):
            at = events.index((kind, row))
            assert max(bar_at, key=lambda s: bar_at[s] if bar_at[s] < at else -1) == row["seq"]
    assert kinds[-1] == "halt" and kinds.count("halt") == 1
    assert events[-1][1]["halt_reason"] == "kill switch: kill switch"
    assert events[-1][1]["status"] == "halted" and events[-1][1]["position"] == [0.0]
    tail = await _sse(strategy_client, f"{base}/events?after_seq={equity[-3]['seq']}")
    assert [d["seq"] for e, d in tail if e == "bar"] == [equity[-2]["seq"], equity[-1]["seq"]]


async def _sse(client, url: str) -> list[tuple[str, dict]]:
    """The events of a stream that ends (event name, JSON data)."""
    import json

    events, name = [], None
    async with client.stream("GET", url) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
    return events


async def test_alpaca_orders_and_bad_credentials_halt_the_session(
    alpaca, client, training_client, evaluation_client, strategy_client
):
    strategy = await evaluated_strategy(client, training_client, evaluation_client, strategy_client)
    body = {"strategy_id": strategy["id"], "mode": "live", "broker": "alpaca"}
    live = (await strategy_client.post("/api/v1/paper-sessions", json=body)).json()
    assert live["broker"] == "alpaca"
    base = f"/api/v1/paper-sessions/{live['id']}"
    bars = _bars(120)
    i = 0
    alpaca.auto_fill = False  # Alpaca accepts the first order and fills it later
    while (await strategy_client.get(base)).json()["n_orders"] == 0:
        assert i < 100, "the policy never traded"
        assert (await strategy_client.post(f"{base}/bars", json=bars[i])).status_code == 200
        i += 1
    orders = (await strategy_client.get(f"{base}/orders")).json()
    sent = {o["client_order_id"]: o for o in alpaca.orders.values()}
    assert len(sent) == len(orders) == 1
    assert orders[0]["broker_order_id"] == next(iter(sent.values()))["id"]
    assert orders[0]["broker_status"] == "new" and orders[0]["broker_filled_qty"] == 0.0
    assert orders[0]["broker_fill_price"] is None

    # Alpaca fills it; the next bar asks again and writes its fill report into the book
    assert alpaca.fill_open() == 1
    alpaca.auto_fill = True
    assert (await strategy_client.post(f"{base}/bars", json=bars[i])).status_code == 200
    i += 1
    first = (await strategy_client.get(f"{base}/orders")).json()[0]
    assert first["broker_status"] == "filled" and first["broker_fill_price"] == 250.0
    assert first["broker_filled_qty"] == pytest.approx(first["quantity"], rel=1e-9)
    signed = first["quantity"] if first["side"] == "buy" else -first["quantity"]
    positions = (await strategy_client.get(f"{base}/positions")).json()
    assert len(positions) == 1 and positions[0]["symbol"] == "SPY"
    assert positions[0]["broker_units"] == pytest.approx(alpaca.positions["SPY"], rel=1e-12)
    if len(alpaca.orders) == 1:  # no second order at that bar: Alpaca holds the first fill
        assert positions[0]["broker_units"] == pytest.approx(signed, rel=1e-9)
    n_sent = len(alpaca.orders)

    alpaca.secret = "rotated-secret-the-session-does-not-know"  # the keys stop working
    before = (await strategy_client.get(base)).json()
    while (session := (await strategy_client.get(base)).json())["status"] == "running":
        assert i < 119, "no second order"
        assert (await strategy_client.post(f"{base}/bars", json=bars[i])).status_code == 200
        i += 1
    assert session["status"] == "halted"
    assert session["halt_reason"].startswith("broker: Alpaca refused the credentials (HTTP 401)")
    assert ALPACA_SECRET not in session["halt_reason"] and ALPACA_KEY not in session["halt_reason"]
    # nothing else lost: the bar and its simulated fill are recorded, no order reached Alpaca
    assert session["n_bars"] > before["n_bars"] and session["n_orders"] == before["n_orders"] + 1
    assert len(alpaca.orders) == n_sent
    refused = await strategy_client.post(f"{base}/bars", json=bars[i])
    assert refused.status_code == 409
