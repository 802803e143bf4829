"""A service while its PostgreSQL restarts (a throwaway cluster on a spare port): every request
gets 503 problem+json with ``Retry-After`` while the database is down — never a 500 — and the
service serves again right after the database is back (the pool does not keep dead connections).
Found by the fault soak (scripts/soak): 42 of 43 requests during a PostgreSQL restart were 500s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.soak.infra import Ports, PostgresCluster
from tests.conftest import API_KEY, _clear_settings_caches, _running_app
from tradeopt_common.db.migrations import upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PostgresCluster]:
    pg = PostgresCluster(tmp_path, Ports().one()).init()
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


async def test_database_restart_answers_503_then_recovers(
    cluster: PostgresCluster, fleet_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await asyncio.to_thread(cluster.create_database, "outage")
    await asyncio.to_thread(upgrade, url)
    monkeypatch.setenv("TRADING_OPT_DB_URI", url)
    _clear_settings_caches()
    async with (
        _running_app("tradeopt_data.app") as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://data.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client,
    ):
        assert (await client.get("/api/v1/datasets")).status_code == 200
        body = {"source": "synthetic", "symbols": ["SYN"], "bars": 300, "seed": 1}

        await asyncio.to_thread(cluster.stop, "immediate")
        for method, path, kwargs in (
            ("GET", "/api/v1/datasets", {}),
            ("GET", "/api/v1/jobs?limit=5", {}),
            ("POST", "/api/v1/datasets", {"json": body}),
        ):
            resp = await client.request(method, path, **kwargs)
            assert resp.status_code == 503, (path, resp.status_code, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert int(resp.headers["retry-after"]) > 0
            problem = resp.json()
            assert problem["status"] == 503 and "retry" in problem["detail"]

        await asyncio.to_thread(cluster.start)
        up = time.monotonic()
        statuses = []
        while time.monotonic() - up < 10:
            resp = await client.get("/api/v1/datasets")
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert statuses[-1] == 200, statuses
        assert 500 not in statuses, statuses
        resp = await client.post("/api/v1/datasets", json=body)
        assert resp.status_code in (201, 202), resp.text
