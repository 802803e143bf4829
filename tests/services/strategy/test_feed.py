"""The bar feed (``python -m tradeopt_strategy.feed``): live sessions with ``"feed": "alpaca"``
get their bars from Alpaca's market-data API — here a local fake of it, never the network —
through the push path: the same book as pushing the same bars, one order per decision bar
whatever is served twice, out-of-order and incomplete bars skipped, bad credentials halting the
session with the reason, the provider down retried with backoff and nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta

import pytest

from tests.services.strategy.conftest import ALPACA_KEY, ALPACA_SECRET, evaluated_strategy
from tests.support.alpaca_fake import fake_alpaca
from tradeopt_ml.data import load_sample
from tradeopt_strategy.alpaca_data import AlpacaBars, DataAuthError, DataUnavailable, ProviderBar

KEY, SECRET = ALPACA_KEY, ALPACA_SECRET
DAY = timedelta(days=1)


def _sample(n: int) -> list[dict]:
    """``n`` daily SPY bars from 2019 in Alpaca's shape (``t`` as Alpaca writes it)."""
    frame = load_sample("SPY")
    frame = frame[frame["timestamp"] >= "2019-01-01"].head(n)
    return [
        {"t": r.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": r.open, "h": r.high, "l": r.low,
         "c": r.close, "v": int(r.volume), "n": 1000, "vw": r.close}
        for r in frame.itertuples()
    ]  # fmt: skip


def _t(bar: dict) -> datetime:
    return datetime.fromisoformat(bar["t"].replace("Z", "+00:00"))


def _pushed(bar: dict) -> dict:
    """The same bar as ``POST …/bars`` takes it."""
    return {"t": bar["t"], "open": bar["o"], "high": bar["h"], "low": bar["l"],
            "close": bar["c"], "volume": float(bar["v"])}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the market-data client against the fake


@pytest.mark.unit
async def test_the_client_pages_filters_and_types_its_errors():
    bars = _sample(25)
    with fake_alpaca(KEY, SECRET) as (url, fake):
        fake.add_bars("SPY", bars)
        client = AlpacaBars(KEY, SECRET, url)
        try:
            got = await client.bars("SPY", "1Day", start=_t(bars[3]))
            assert [b.t for b in got] == [_t(b) for b in bars[3:]]
            assert got[0] == ProviderBar(_t(bars[3]), bars[3]["o"], bars[3]["h"], bars[3]["l"],
                                         bars[3]["c"], float(bars[3]["v"]))  # fmt: skip
            import tradeopt_strategy.alpaca_data as data

            data.PAGE_LIMIT, old = 10, data.PAGE_LIMIT  # three pages
            try:
                assert len(await client.bars("SPY", "1Day", start=_t(bars[0]))) == 25
            finally:
                data.PAGE_LIMIT = old
            assert sum("page_token" in r for r in fake.data_requests) == 2
            newest = await client.bars("SPY", "1Day", last=4, now=_t(bars[-1]) + DAY)
            assert [b.t for b in newest] == [_t(b) for b in bars[-4:]]  # oldest first
            assert newest[-1].complete("1Day", _t(bars[-1]) + DAY)
            assert not newest[-1].complete("1Day", _t(bars[-1]) + DAY / 2)
            assert all(r["feed"] == "iex" for r in fake.data_requests)

            fake.data_down = 503
            with pytest.raises(DataUnavailable, match="HTTP 503"):
                await client.bars("SPY", "1Day", start=_t(bars[0]))
            fake.data_down = None
        finally:
            await client.aclose()
        wrong = AlpacaBars(KEY, "wrong-secret-000000000000", url)
        try:
            with pytest.raises(DataAuthError) as info:
                await wrong.bars("SPY", "1Day", last=3)
        finally:
            await wrong.aclose()
        assert "HTTP 401" in str(info.value) and "ALPACA_API_KEY" in str(info.value)
        assert SECRET not in str(info.value) and "wrong-secret" not in str(info.value)
        assert KEY not in str(info.value) and "wrong-secret" not in repr(wrong)
    down = AlpacaBars(KEY, SECRET, url, timeout=2)  # the fake is gone: nothing listens
    try:
        with pytest.raises(DataUnavailable, match="unreachable"):
            await down.bars("SPY", "1Day", last=3)
    finally:
        await down.aclose()


# ---------------------------------------------------------------------------------------------
# feed sessions end to end (real PostgreSQL, Redis, S3; the fake Alpaca)


class Clock:
    """The feed's "now" (bar completeness), moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _feed(strategy_app, clock: Clock):
    from tradeopt_strategy.config import StrategySettings
    from tradeopt_strategy.feed import BarFeed

    state = strategy_app.state.tradeopt
    return BarFeed(state.db, state.store, StrategySettings(), clock=clock)


@pytest.mark.integration
async def test_feed_sessions_trade_like_pushed_bars_and_survive_the_provider(
    alpaca, client, training_client, evaluation_client, strategy_app, strategy_client, fleet_env
):
    strategy = await evaluated_strategy(client, training_client, evaluation_client, strategy_client)
    sessions = "/api/v1/paper-sessions"

    # the request shape: a feed is for live sessions; its timeframe defaults to 1Day
    for bad in (
        {"feed": "alpaca"},
        {"mode": "live", "feed_timeframe": "1Hour"},
        {"mode": "live", "feed": "yahoo"},
        {"mode": "live", "feed": "alpaca", "feed_timeframe": "2Day"},
    ):
        resp = await strategy_client.post(sessions, json={"strategy_id": strategy["id"], **bad})
        assert resp.status_code == 422, (bad, resp.text)
    body = {"strategy_id": strategy["id"], "mode": "live", "feed": "alpaca"}
    fed = (await strategy_client.post(sessions, json=body)).json()
    assert fed["feed"] == "alpaca" and fed["feed_timeframe"] == "1Day"
    assert fed["status"] == "running" and fed["feed_error"] is None
    push = {"strategy_id": strategy["id"], "mode": "live"}
    pushed = (await strategy_client.post(sessions, json=push)).json()
    assert pushed["feed"] == "push" and pushed["feed_timeframe"] is None
    fed_url, pushed_url = f"{sessions}/{fed['id']}", f"{sessions}/{pushed['id']}"

    bars = _sample(140)
    first = _pushed(bars[0])
    refused = await strategy_client.post(f"{fed_url}/bars", json=first)
    assert refused.status_code == 409 and "alpaca feed" in refused.json()["detail"]

    # first poll: the newest complete bars, just enough to warm up (the forming bar waits)
    from tradeopt_common.contracts.models import read_lineage
    from tradeopt_ml.paper.signals import required_bars
    from tradeopt_strategy.feed import BarFeed

    feed: BarFeed = _feed(strategy_app, clock := Clock(_t(bars[59]) + DAY / 2))
    need = required_bars(
        read_lineage(strategy_app.state.tradeopt.store, uuid.UUID(strategy["model_id"]))
    )
    assert need < 58
    alpaca.add_bars("SPY", bars[:60])
    [result] = await feed.poll_once()
    assert result.session_id.hex == fed["id"].replace("-", "")
    assert result.processed == need and result.halted is None and result.error is None
    warm = bars[59 - need : 59]
    state = (await strategy_client.get(fed_url)).json()
    assert state["last_t"] is not None and state["feed_polled_at"] is not None
    assert await feed.poll_once() == []  # not due before the poll interval

    async def push_to(n: int) -> None:  # the pushed twin, up to bar n (exclusive)
        done = (await strategy_client.get(pushed_url)).json()["last_t"]
        for bar in [*warm, *bars[59:n]]:
            if done is None or _t(bar) > datetime.fromisoformat(done):
                resp = await strategy_client.post(f"{pushed_url}/bars", json=_pushed(bar))
                assert resp.status_code == 200, resp.text

    async def same_book() -> dict:
        a = (await strategy_client.get(fed_url)).json()
        b = (await strategy_client.get(pushed_url)).json()
        for key in ("n_bars", "n_orders", "equity", "cash", "position", "units", "last_t"):
            assert a[key] == b[key], key
        for rows in ("orders", "fills", "equity"):
            fa = (await strategy_client.get(f"{fed_url}/{rows}")).json()
            fb = (await strategy_client.get(f"{pushed_url}/{rows}")).json()
            strip = {"id", "order_id"}
            assert [{k: v for k, v in r.items() if k not in strip} for r in fa] == [
                {k: v for k, v in r.items() if k not in strip} for r in fb
            ], rows
        return a

    # later polls: the bars since the newest stored one, each complete one through push_bar
    served = 60
    while (await strategy_client.get(fed_url)).json()["n_orders"] < 2:
        assert served < 120, "the policy never traded"
        alpaca.add_bars("SPY", bars[served : served + 5])
        served += 5
        clock.now = _t(bars[served - 1]) + DAY / 2  # the newest bar is still forming
        [result] = await feed.poll_once(force=True)
        assert result.incomplete == 1 and result.duplicates == 1 and result.processed == 5
    await push_to(served - 1)
    before = await same_book()
    assert before["n_orders"] >= 2

    # a bar served twice (again in the next answer, and late) makes no second order
    alpaca.add_bars("SPY", [bars[served - 2]], late=True)
    clock.now = _t(bars[served - 1]) + DAY
    [result] = await feed.poll_once(force=True)
    assert result.processed == 1 and result.duplicates == 2  # the cursor's bar, the late copy
    [result] = await feed.poll_once(force=True)
    assert result.processed == 0 and result.duplicates == 2
    await push_to(served)
    after = await same_book()
    orders = (await strategy_client.get(f"{fed_url}/orders")).json()
    assert len({o["seq"] for o in orders}) == len(orders)  # one order per decision bar
    alpaca.late.clear()

    # an out-of-order bar (older than the newest stored one, never seen) is skipped
    older = {**bars[served - 3], "t": bars[served - 3]["t"].replace("T00:00:00", "T12:00:00")}
    alpaca.add_bars("SPY", [older], late=True)
    [result] = await feed.poll_once(force=True)
    assert result.out_of_order == 1 and result.processed == 0
    assert (await same_book())["n_orders"] == after["n_orders"]
    alpaca.late.clear()

    # the provider down: retried with backoff, the session stays running, nothing is lost
    alpaca.add_bars("SPY", bars[served : served + 10])
    alpaca.data_down = 503
    clock.now = _t(bars[served + 9]) + DAY
    [result] = await feed.poll_once(force=True)
    assert (
        result.processed == 0 and "HTTP 503" in result.error and "retry 1 in 60 s" in result.error
    )
    [result] = await feed.poll_once(force=True)
    assert "retry 2 in 120 s" in result.error  # doubling
    state = (await strategy_client.get(fed_url)).json()
    assert state["status"] == "running" and "HTTP 503" in state["feed_error"]
    assert await feed.poll_once() == []  # backing off
    alpaca.data_down = 500
    [result] = await feed.poll_once(force=True)
    assert "HTTP 500" in result.error
    alpaca.data_down = None
    # the recovery runs in the feed's own process, as deployed (--once: one pass, then exit)
    env = {**os.environ, **fleet_env, "TRADING_OPT_LOG_JSON": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "tradeopt_strategy.feed", "--once"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for secret in (KEY, SECRET):
        assert secret not in proc.stdout + proc.stderr
    await push_to(served + 10)
    recovered = await same_book()
    assert recovered["n_bars"] == after["n_bars"] + 10 and recovered["feed_error"] is None
    assert recovered["status"] == "running"
    served += 10

    # bad market-data credentials halt the session with the reason (no key in it)
    alpaca.secret = "rotated-secret-the-feed-does-not-know"
    alpaca.add_bars("SPY", bars[served : served + 2])
    clock.now = _t(bars[served + 1]) + DAY
    [result] = await feed.poll_once(force=True)
    assert result.halted.startswith("feed: Alpaca refused the market-data credentials (HTTP 401)")
    state = (await strategy_client.get(fed_url)).json()
    assert state["status"] == "halted" and state["halt_reason"] == result.halted
    assert SECRET not in state["halt_reason"] and KEY not in state["halt_reason"]
    assert state["n_bars"] == recovered["n_bars"] and state["n_orders"] == recovered["n_orders"]
    assert await feed.poll_once(force=True) == []  # halted sessions are not polled
    alpaca.secret = SECRET


@pytest.mark.integration
async def test_feed_orders_reach_alpaca_once_and_missing_keys_halt(
    alpaca, client, training_client, evaluation_client, strategy_app, strategy_client, monkeypatch
):
    strategy = await evaluated_strategy(client, training_client, evaluation_client, strategy_client)
    body = {"strategy_id": strategy["id"], "mode": "live", "feed": "alpaca", "broker": "alpaca"}
    live = (await strategy_client.post("/api/v1/paper-sessions", json=body)).json()
    base = f"/api/v1/paper-sessions/{live['id']}"
    bars = _sample(140)
    feed = _feed(strategy_app, clock := Clock(_t(bars[59]) + DAY))
    alpaca.add_bars("SPY", bars[:60])
    await feed.poll_once()
    served = 60
    while (await strategy_client.get(base)).json()["n_orders"] == 0:
        assert served < 130, "the policy never traded"
        alpaca.add_bars("SPY", [bars[served]])
        clock.now = _t(bars[served]) + DAY
        served += 1
        [result] = await feed.poll_once(force=True)
        assert result.processed == 1 and result.halted is None
    for _ in range(2):  # the same bars served again: no second order
        [result] = await feed.poll_once(force=True)
        assert result.processed == 0
    orders = (await strategy_client.get(f"{base}/orders")).json()
    assert len(orders) == len(alpaca.orders) == 1
    assert orders[0]["broker_order_id"] == next(iter(alpaca.orders))
    assert next(iter(alpaca.orders.values()))["client_order_id"].startswith(
        f"tradeopt-{live['id']}"
    )
    assert orders[0]["broker_status"] == "filled"

    # no keys configured at all: the session halts saying so
    second = (await strategy_client.post("/api/v1/paper-sessions", json=body)).json()
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.delenv("ALPACA_API_SECRET")
    results = await _feed(strategy_app, clock).poll_once()
    assert {r.session_id.hex for r in results} == {
        live["id"].replace("-", ""),
        second["id"].replace("-", ""),
    }
    for session_id in (live["id"], second["id"]):
        state = (await strategy_client.get(f"/api/v1/paper-sessions/{session_id}")).json()
        assert state["status"] == "halted"
        assert state["halt_reason"] == (
            "feed: Alpaca credentials are not configured: set ALPACA_API_KEY and ALPACA_API_SECRET"
        )
