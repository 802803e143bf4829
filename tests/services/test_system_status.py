"""``GET /api/v1/system/status`` (every service mounts it; the gateway routes it to data): every
service's readiness (its own checks in process, the others' ``/readyz`` over HTTP), the depth of
every Celery queue (Redis ``LLEN``) and the workers consuming them (a Celery broadcast) — on the
tests' real PostgreSQL, Redis and S3, a live strategy API and a real data worker."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import _admin_client, _clear_settings_caches, _running_app
from tests.support.live import live_api
from tests.support.processes import celery_worker, free_port, wait_worker_ready

pytestmark = pytest.mark.integration
UNREACHABLE = ("training", "tuning", "evaluation")


@pytest.fixture
def peers(fleet_env, log_dir, monkeypatch) -> Iterator[dict[str, str]]:
    """A live strategy API; nothing listens where training, tuning and evaluation should be."""
    dead = f"http://127.0.0.1:{free_port()}"
    with live_api("tradeopt_strategy.app:create_app", fleet_env, log_dir, "strategy-api") as url:
        urls = {"strategy": url, **dict.fromkeys(UNREACHABLE, dead)}
        for name, value in urls.items():
            monkeypatch.setenv(f"TRADING_OPT_{name.upper()}_URL", value)
        _clear_settings_caches()
        yield urls


@pytest.fixture
async def data_client(peers) -> AsyncIterator[httpx.AsyncClient]:
    """The data service (which the gateway asks for /api/v1/system) with those peers."""
    async with _running_app("tradeopt_data.app") as app, _admin_client(app, "data.test") as c:
        yield c


async def _status(client: httpx.AsyncClient) -> dict:
    resp = await client.get("/api/v1/system/status")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_readiness_queue_depths_and_workers(data_client, fleet_env, log_dir):
    # a job waits on the data queue while no worker runs
    created = await data_client.post("/api/v1/datasets", json={"source": "sample", "symbol": "SPY"})
    assert created.status_code == 202, created.text
    body = await _status(data_client)
    assert body["served_by"] == "data" and body["errors"] == {}
    services = {s["name"]: s for s in body["services"]}
    assert list(services) == ["data", "training", "tuning", "evaluation", "strategy"]
    assert services["data"]["status"] == "ready"
    assert set(services["data"]["checks"]) == {"database", "redis", "storage"}
    assert services["strategy"]["status"] == "ready"  # asked over HTTP
    assert services["strategy"]["checks"]["database"]["ok"] is True
    for name in UNREACHABLE:
        assert services[name]["status"] == "unreachable" and services[name]["error"], name
    queues = {q["name"]: q for q in body["queues"]}
    assert set(queues) == {"data", "training", "tuning", "evaluation", "strategy", "maintenance"}
    assert queues["data"] == {"name": "data", "depth": 1, "workers": []}
    assert all(q["depth"] == 0 for n, q in queues.items() if n != "data")
    assert body["workers"] == []

    # a real worker starts: it answers the broadcast with its queues and drains the data queue
    worker = celery_worker(
        "tradeopt_data.worker:celery_app", "data,maintenance", fleet_env, log_dir, "data-worker"
    )
    worker.start()
    try:
        wait_worker_ready(worker)
        for _ in range(300):
            job = (await data_client.get(f"/api/v1/jobs/{created.json()['job_id']}")).json()
            if job["status"] == "succeeded":
                break
            await asyncio.sleep(0.2)
        assert job["status"] == "succeeded", job
        for _ in range(60):  # the last broadcast's answer is reused for WORKERS_TTL_SECONDS
            body = await _status(data_client)
            if body["workers"]:
                break
            await asyncio.sleep(0.25)
        assert body["errors"] == {}
        (seen,) = body["workers"]
        assert seen["name"].startswith("data-worker-") and seen["queues"] == ["data", "maintenance"]
        queues = {q["name"]: q for q in body["queues"]}
        assert queues["data"] == {"name": "data", "depth": 0, "workers": [seen["name"]]}
        assert queues["maintenance"]["workers"] == [seen["name"]]
        assert queues["training"]["workers"] == []
    finally:
        worker.stop()


async def test_read_scope_and_no_key(client):
    """(The bootstrap data app: its peers' URLs are the defaults; only the scopes matter here.)"""
    made = await client.post("/api/v1/keys", json={"name": "status-reader", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    reader = {"Authorization": f"Bearer {made.json()['key']}"}
    assert (await client.get("/api/v1/system/status", headers=reader)).status_code == 200
    anonymous = await client.get("/api/v1/system/status", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")


async def test_concurrent_and_repeated_requests_share_one_broadcast(client, monkeypatch):
    """A Celery broadcast waits its whole timeout for answers (over a second): a process reuses
    its last answer for WORKERS_TTL_SECONDS and concurrent requests wait for one broadcast."""
    from tradeopt_common.web import status

    calls = 0
    real = status._broadcast

    async def counted(state):
        nonlocal calls
        calls += 1
        return await real(state)

    monkeypatch.setattr(status, "_broadcast", counted)
    monkeypatch.setattr(status, "_last_broadcast", weakref.WeakKeyDictionary())
    bodies = await asyncio.gather(*(_status(client) for _ in range(5)))
    assert calls == 1 and all(b["workers"] == bodies[0]["workers"] for b in bodies)
    await _status(client)
    assert calls == 1
    monkeypatch.setattr(status, "WORKERS_TTL_SECONDS", 0.0)
    await _status(client)
    assert calls == 2
