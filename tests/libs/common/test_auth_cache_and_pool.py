"""Authentication without a lookup per request, ``last_used_at`` off the request path, and the
pool's recovery after a PostgreSQL restart — against real PostgreSQL and Redis, with the data
service app in-process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from tests.conftest import API_KEY, _running_app
from tradeopt_common.auth.keys import Scope, create_key, hash_key
from tradeopt_common.auth.models import ApiKey

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
TRADEOPT = str(Path(sys.executable).with_name("tradeopt"))


async def _key(app, scopes: list[Scope]) -> tuple[str, str]:
    async with app.state.tradeopt.db.unit_of_work() as s:
        row, key = await create_key(s, "t", scopes)
    return key, str(row.id)


def _client(app, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://data.test",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


async def _live_key(app, scopes: list[Scope]) -> tuple[str, str]:
    """A new key, once the app's cache is in use."""
    await _wait_live(app)
    return await _key(app, scopes)


async def _served_and_cached(app, client: httpx.AsyncClient, key: str) -> None:
    assert (await client.get("/api/v1/datasets")).status_code == 200
    assert app.state.tradeopt.auth.cache.get(hash_key(key)) is not None


async def _wait_live(app) -> None:
    """The revocation listener has subscribed (the cache is in use from then on)."""
    for _ in range(200):
        if app.state.tradeopt.auth.cache.live:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the revocation listener did not subscribe")


@pytest.fixture
async def long_cache_app(fleet_env, monkeypatch) -> AsyncIterator[object]:
    """The data app with a principal cache TTL far beyond the test: only an invalidation can
    end a cached key's life."""
    monkeypatch.setenv("TRADING_OPT_AUTH_CACHE_SECONDS", "3600")
    from tests.conftest import _clear_settings_caches

    _clear_settings_caches()
    async with _running_app("tradeopt_data.app") as app:
        yield app


class TestPrincipalCache:
    async def test_key_is_looked_up_once_then_served_from_the_cache(self, long_cache_app):
        app = long_cache_app
        key, _ = await _live_key(app, [Scope.READ])
        async with _client(app, key) as c:
            await _served_and_cached(app, c, key)
            assert (await c.get("/api/v1/datasets")).status_code == 200

    async def test_revoked_by_the_cli_in_another_process_stops_working_at_once(
        self, long_cache_app
    ):
        """The CLI's revocation reaches the API process over Redis pub/sub: the key is refused
        long before the (hour-long) cache TTL, by the next request after the message."""
        app = long_cache_app
        key, key_id = await _live_key(app, [Scope.READ])
        async with _client(app, key) as c:
            await _served_and_cached(app, c, key)
            out = await asyncio.to_thread(
                subprocess.run,
                [TRADEOPT, "keys", "revoke", key_id],
                capture_output=True,
                text=True,
                check=False,
            )
            assert out.returncode == 0, out.stdout + out.stderr
            for _ in range(100):  # the message is delivered asynchronously
                resp = await c.get("/api/v1/datasets")
                if resp.status_code == 401:
                    break
                await asyncio.sleep(0.05)
            assert resp.status_code == 401, resp.text
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert "revoked" in resp.json()["detail"]

    async def test_scopes_still_apply_to_cached_keys(self, long_cache_app):
        app = long_cache_app
        key, _ = await _live_key(app, [Scope.READ])
        async with _client(app, key) as c:
            for _ in range(2):  # looked up, then cached
                denied = await c.post("/api/v1/datasets", json={"source": "sample", "symbol": "X"})
                assert denied.status_code == 403
                assert denied.headers["content-type"].startswith(PROBLEM)

    async def test_without_the_revocation_channel_every_request_looks_the_key_up(self, data_app):
        """While Redis pub/sub is not subscribed the cache is not trusted at all."""
        cache = data_app.state.tradeopt.auth.cache
        await _wait_live(data_app)
        key, key_id = await _key(data_app, [Scope.READ])
        cache.live = False  # as when the listener lost Redis
        async with _client(data_app, key) as c:
            assert (await c.get("/api/v1/datasets")).status_code == 200
            assert cache.get(hash_key(key)) is None
            conn = await asyncpg.connect(
                data_app.state.tradeopt.settings.db_uri.replace("postgresql+asyncpg", "postgresql")
            )
            try:  # revoked behind the app's back: no announcement at all
                await conn.execute(
                    "UPDATE core.api_key SET revoked_at = now() WHERE id = $1::uuid", key_id
                )
            finally:
                await conn.close()
            assert (await c.get("/api/v1/datasets")).status_code == 401


async def _last_used(app, key_id):
    """The key's ``last_used_at`` once the pending last-used writes are done."""
    await app.state.tradeopt.auth.last_used.drain()
    async with app.state.tradeopt.db.unit_of_work() as s:
        query = select(ApiKey.last_used_at).where(ApiKey.id == key_id)
        return (await s.execute(query)).scalar_one()


class TestLastUsed:
    async def test_last_used_at_is_recorded_once_per_interval(self, data_app):
        key, key_id = await _key(data_app, [Scope.READ])
        async with _client(data_app, key) as c:
            assert (await c.get("/api/v1/datasets")).status_code == 200
            first = await _last_used(data_app, key_id)
            assert first is not None
            for _ in range(3):
                assert (await c.get("/api/v1/datasets")).status_code == 200
            again = await _last_used(data_app, key_id)
            assert again == first  # throttled: one write per 5 minutes

    async def test_a_long_request_with_a_key_does_not_block_another_with_the_same_key(
        self, data_app
    ):
        """An upload streams its body slowly with key K (never used before, so its first use is
        recorded); meanwhile a list request with K is answered. Recording last use inside the
        upload's transaction held K's row lock for the whole body and made this wait."""
        key, _ = await _key(data_app, [Scope.WRITE])
        data_app.state.tradeopt.auth.cache.invalidate()
        release = asyncio.Event()
        started = asyncio.Event()
        boundary = "bnd42"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n'
            "Content-Type: text/csv\r\n\r\ndate,open,high,low,close,volume\r\n"
        ).encode()
        rows = "".join(f"2020-01-{d:02d},10,11,9,10.5,100\r\n" for d in range(1, 32)).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            started.set()
            await release.wait()
            yield rows + tail

        async with _client(data_app, key) as upload_client, _client(data_app, key) as reader:
            upload = asyncio.create_task(
                upload_client.post(
                    "/api/v1/datasets",
                    content=body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
            )
            await asyncio.wait_for(started.wait(), timeout=30)
            await asyncio.sleep(0.2)  # the upload's dependencies (auth) have run
            listed = await asyncio.wait_for(reader.get("/api/v1/datasets"), timeout=30)
            assert listed.status_code == 200
            assert not upload.done()  # answered while the upload was still streaming
            release.set()
            created = await asyncio.wait_for(upload, timeout=60)
            assert created.status_code in (201, 422), created.text


class TestPostgresRestart:
    @pytest.fixture
    async def pg(self, fleet_env, monkeypatch, tmp_path):
        from scripts.soak.infra import PostgresCluster
        from tests.conftest import _clear_settings_caches
        from tests.support.processes import free_port
        from tradeopt_common.db.migrations import upgrade

        server = PostgresCluster(tmp_path, free_port())
        try:
            await asyncio.to_thread(server.init)
            await asyncio.to_thread(server.start)
            url = await asyncio.to_thread(server.create_database, "tradeopt")
            await asyncio.to_thread(upgrade, url)
            monkeypatch.setenv("TRADING_OPT_DB_URI", url)
            _clear_settings_caches()
            yield server
        finally:
            await asyncio.to_thread(server.destroy)

    async def test_busy_connection_lost_is_a_503_then_recovers(self, pg, monkeypatch):
        """No idle ping (huge threshold): the first request after the restart finds a dead
        pooled connection — a 503 problem+json with Retry-After, not a 500 — and the pool is
        invalidated, so the next request succeeds."""
        from tests.conftest import _clear_settings_caches

        monkeypatch.setenv("TRADING_OPT_DB_PING_IDLE_SECONDS", "3600")
        _clear_settings_caches()
        async with _running_app("tradeopt_data.app") as app, _client(app, API_KEY) as c:
            assert (await c.get("/api/v1/datasets")).status_code == 200
            # The request's session may close just after its response is sent: restart only
            # once its connection is back in the pool (else the reset on return fails and
            # the pool simply drops it — nothing for the next request to trip on).
            pool = app.state.tradeopt.db.engine.pool
            for _ in range(200):
                if pool.checkedout() == 0:
                    break
                await asyncio.sleep(0.01)
            assert pool.checkedout() == 0 and pool.checkedin() >= 1
            await asyncio.to_thread(pg.restart)
            first = await c.get("/api/v1/datasets")
            assert first.status_code == 503, first.text
            assert first.headers["content-type"].startswith(PROBLEM)
            assert int(first.headers["retry-after"]) > 0
            assert first.json()["status"] == 503
            statuses = [(await c.get("/api/v1/datasets")).status_code for _ in range(3)]
            assert statuses == [200, 200, 200]

    async def test_idle_connection_lost_is_replaced_before_use(self, pg, monkeypatch):
        """Connections idle past TRADING_OPT_DB_PING_IDLE_SECONDS are pinged on checkout: a
        restart during a quiet spell costs no request at all."""
        from tests.conftest import _clear_settings_caches

        monkeypatch.setenv("TRADING_OPT_DB_PING_IDLE_SECONDS", "0.2")
        _clear_settings_caches()
        async with _running_app("tradeopt_data.app") as app, _client(app, API_KEY) as c:
            assert (await c.get("/api/v1/datasets")).status_code == 200
            await asyncio.to_thread(pg.restart)
            await asyncio.sleep(0.5)
            statuses = [(await c.get("/api/v1/datasets")).status_code for _ in range(3)]
            assert statuses == [200, 200, 200]

    async def test_database_down_is_a_503(self, pg):
        async with _running_app("tradeopt_data.app") as app, _client(app, API_KEY) as c:
            await asyncio.to_thread(pg.stop)
            resp = await c.get("/api/v1/datasets")
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert "retry-after" in resp.headers
            await asyncio.to_thread(pg.start)
            for _ in range(20):
                resp = await c.get("/api/v1/datasets")
                if resp.status_code == 200:
                    break
                assert resp.status_code == 503
                await asyncio.sleep(0.2)
            assert resp.status_code == 200
