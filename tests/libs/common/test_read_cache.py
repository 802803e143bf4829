"""The per-process cache of read answers (``TRADING_OPT_READ_CACHE_SECONDS``): what it serves, what
drops it (this process's commits and PostgreSQL's change feed), that it serves nothing without a
live feed, and that every request is still authenticated — the data service app in-process on
real PostgreSQL and Redis; and the cache's own bounds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.conftest import API_KEY, _running_app
from tradeopt_common.auth.keys import Scope, create_key
from tradeopt_common.web import read_cache
from tradeopt_common.web.read_cache import ReadCache

PROBLEM = "application/problem+json"
LIST = "/api/v1/datasets?limit=5"


def _live(ttl: float, **kwargs: int) -> ReadCache:
    cache = ReadCache(ttl, **kwargs)
    cache.set_live(True)
    return cache


class TestReadCacheBounds:
    def test_off_when_ttl_is_zero(self) -> None:
        cache = _live(0)
        cache.put("k", b"{}", cache.generation())
        assert not cache.enabled
        assert cache.get("k") is None

    def test_serves_nothing_without_a_live_change_feed(self) -> None:
        cache = ReadCache(60)
        assert not cache.enabled
        cache.put("k", b"{}", cache.generation())
        assert cache.get("k") is None
        cache.set_live(True)
        cache.put("k", b"{}", cache.generation())
        assert cache.get("k") == b"{}"
        cache.set_live(False)  # the feed lost: changes may be missed from now on
        assert cache.get("k") is None
        cache.set_live(True)
        assert cache.get("k") is None  # what was kept before the loss is gone for good

    def test_entry_expires_after_ttl(self, monkeypatch: pytest.MonkeyPatch) -> None:
        now = [1000.0]
        monkeypatch.setattr(read_cache.time, "monotonic", lambda: now[0])
        cache = _live(2.0)
        cache.put("k", b"page", cache.generation())
        now[0] += 1.9
        assert cache.get("k") == b"page"
        now[0] += 0.2
        assert cache.get("k") is None

    def test_a_commit_drops_entries_and_refuses_pages_read_before_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        generation = [7]
        monkeypatch.setattr(read_cache, "commit_generation", lambda: generation[0])
        cache = _live(60)
        before = cache.generation()
        cache.put("old", b"a", before)
        generation[0] = 8  # this process committed a write
        assert cache.get("old") is None
        cache.put("late", b"b", before)  # its query started before the commit
        assert cache.get("late") is None
        cache.put("new", b"c", cache.generation())
        assert cache.get("new") == b"c"

    def test_a_change_notification_drops_entries_and_refuses_pages_read_before_it(self) -> None:
        cache = _live(60)
        before = cache.generation()
        cache.put("old", b"a", before)
        cache.changed("data.dataset")  # another process committed a write
        assert cache.get("old") is None
        cache.put("late", b"b", before)
        assert cache.get("late") is None

    def test_bounded_by_entries_and_bytes(self) -> None:
        cache = _live(60, max_entries=3)
        for i in range(4):
            cache.put(i, b"x", cache.generation())
        assert len(cache._entries) <= 3
        assert cache.get(3) == b"x"
        cache = _live(60, max_bytes=10)
        cache.put("a", b"123456", cache.generation())
        cache.put("b", b"123456", cache.generation())  # would exceed 10 bytes: cleared first
        assert cache.get("a") is None and cache.get("b") == b"123456"
        cache.put("huge", b"x" * (read_cache.MAX_BODY_BYTES + 1), cache.generation())
        assert cache.get("huge") is None


def _pg_dsn(db_uri: str) -> str:
    return db_uri.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _rename_behind_the_apps_back(
    db_uri: str, dataset_id: str, name: str, *, notify: bool = True
) -> None:
    """A change committed outside this process's units of work (as another process would);
    ``notify=False`` makes it with triggers off (``session_replication_role = replica``), i.e.
    a change the feed never announces — what only the TTL would bound."""
    conn = await asyncpg.connect(_pg_dsn(db_uri))
    try:
        async with conn.transaction():
            if not notify:
                await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE data.dataset SET name = $1 WHERE id = $2", name, uuid.UUID(dataset_id)
            )
    finally:
        await conn.close()


def _client(app: object, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://data.test",
        headers=headers,
        timeout=60,
    )


async def _app_with_cache(seconds: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[object]:
    monkeypatch.setenv("TRADING_OPT_READ_CACHE_SECONDS", seconds)
    from tests.conftest import _clear_settings_caches

    _clear_settings_caches()
    async with _running_app("tradeopt_data.app") as app:
        cache = app.state.tradeopt.read_cache
        for _ in range(500):  # the change feed connects in the background
            if cache.enabled or cache.ttl == 0:
                break
            await asyncio.sleep(0.01)
        yield app


@pytest.fixture
async def cached_app(fleet_env, monkeypatch) -> AsyncIterator[object]:
    """The data app with answers cached far beyond the test: only a commit of this process or a
    change notification can end an entry's life."""
    async for app in _app_with_cache("60", monkeypatch):
        yield app


@pytest.fixture
async def uncached_app(fleet_env, monkeypatch) -> AsyncIterator[object]:
    """The data app with ``TRADING_OPT_READ_CACHE_SECONDS=0``."""
    async for app in _app_with_cache("0", monkeypatch):
        yield app


async def _new_dataset(admin: httpx.AsyncClient, name: str) -> str:
    resp = await admin.post(
        "/api/v1/datasets",
        json={"source": "synthetic", "symbols": ["RC"], "bars": 300, "seed": 1, "name": name},
    )
    assert resp.status_code in (201, 202), resp.text
    return str(resp.json()["id"])


@pytest.mark.integration
class TestCachedListPages:
    async def test_served_from_the_cache_until_a_change_is_committed(self, cached_app, fleet_env):
        db_uri = fleet_env["TRADING_OPT_DB_URI"]
        assert cached_app.state.tradeopt.read_cache.enabled  # the change feed is live
        async with _client(cached_app, API_KEY) as admin:
            dataset_id = await _new_dataset(admin, "before")
            one = f"/api/v1/datasets/{dataset_id}"
            first = await admin.get(LIST)
            assert first.status_code == 200
            assert first.headers["content-type"] == "application/json"
            assert [d["name"] for d in first.json()["items"] if d["id"] == dataset_id] == ["before"]
            assert (await admin.get(one)).json()["name"] == "before"

            # A change nobody announces (triggers off) is not seen: both answers are cached.
            await _rename_behind_the_apps_back(db_uri, dataset_id, "silent", notify=False)
            await asyncio.sleep(0.2)
            assert (await admin.get(LIST)).content == first.content
            assert (await admin.get(one)).json()["name"] == "before"

            # Another process's committed change is seen by the very next request, every time:
            # the feed's barrier waits for every notification committed before the request.
            for i in range(20):
                await _rename_behind_the_apps_back(db_uri, dataset_id, f"elsewhere-{i}")
                names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
                assert f"elsewhere-{i}" in names
                assert (await admin.get(one)).json()["name"] == f"elsewhere-{i}"
                assert (await admin.get(one)).json()["name"] == f"elsewhere-{i}"  # cached again

            # A change committed here drops the cache at once.
            renamed = await admin.patch(one, json={"name": "after"})
            assert renamed.status_code == 200, renamed.text
            names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
            assert "after" in names and "elsewhere-19" not in names
            assert (await admin.get(one)).json()["name"] == "after"

            # Another query string is another page.
            other = await admin.get("/api/v1/datasets?limit=1")
            assert len(other.json()["items"]) == 1

    async def test_nothing_is_served_while_the_change_feed_is_down(self, cached_app, fleet_env):
        cache = cached_app.state.tradeopt.read_cache
        async with _client(cached_app, API_KEY) as admin:
            dataset_id = await _new_dataset(admin, "feed")
            assert (await admin.get(LIST)).status_code == 200
            cache.set_live(False)  # as the listener reports a lost connection
            try:
                await _rename_behind_the_apps_back(
                    fleet_env["TRADING_OPT_DB_URI"], dataset_id, "unannounced", notify=False
                )
                names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
                assert "unannounced" in names  # straight from the database
            finally:
                cache.set_live(True)

    async def test_cached_body_is_the_uncached_body(self, cached_app):
        async with _client(cached_app, API_KEY) as admin:
            await _new_dataset(admin, "same-bytes")
            cached = await admin.get(LIST)
            cache = cached_app.state.tradeopt.read_cache
            ttl, cache.ttl = cache.ttl, 0.0
            try:
                fresh = await admin.get(LIST)
            finally:
                cache.ttl = ttl
            assert fresh.status_code == cached.status_code == 200
            assert fresh.content == cached.content
            assert fresh.headers["content-type"] == cached.headers["content-type"]

    async def test_every_request_is_still_authenticated(self, cached_app):
        app = cached_app
        async with app.state.tradeopt.db.unit_of_work() as s:
            row, key = await create_key(s, "reader", [Scope.READ])
        async with _client(app, API_KEY) as admin, _client(app, key) as reader:
            await _new_dataset(admin, "auth")
            assert (await reader.get(LIST)).status_code == 200  # the page is cached now
            for client in (_client(app, None), _client(app, "to_not_a_key")):
                async with client as anonymous:
                    refused = await anonymous.get(LIST)
                    assert refused.status_code == 401
                    assert refused.headers["content-type"].startswith(PROBLEM)
            revoked = await admin.delete(f"/api/v1/keys/{row.id}")
            assert revoked.status_code in (200, 204), revoked.text
            refused = await reader.get(LIST)
            assert refused.status_code == 401, refused.text
            assert refused.headers["content-type"].startswith(PROBLEM)

    async def test_off_at_zero_every_request_reads(self, uncached_app, fleet_env):
        assert not uncached_app.state.tradeopt.read_cache.enabled
        async with _client(uncached_app, API_KEY) as admin:
            dataset_id = await _new_dataset(admin, "uncached")
            assert (await admin.get(LIST)).status_code == 200
            db_uri = fleet_env["TRADING_OPT_DB_URI"]
            await _rename_behind_the_apps_back(db_uri, dataset_id, "y", notify=False)
            names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
            assert "y" in names

    async def test_every_table_announces_its_changes(self, pg_url):
        """The migrations leave the change trigger on every table of every schema of ours."""
        conn = await asyncpg.connect(_pg_dsn(pg_url))
        try:
            missing = await conn.fetch(
                "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' "
                "AND c.relname NOT LIKE 'alembic_version%' "
                "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid "
                "AND t.tgname = 'tradeopt_notify_change')",
                ["core", "data", "training", "evaluation", "tuning", "strategy"],
            )
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r'",
                ["core", "data", "training", "evaluation", "tuning", "strategy"],
            )
        finally:
            await conn.close()
        assert tables > 10
        assert [r["name"] for r in missing] == []


@pytest.mark.unit
def test_which_routes_may_be_answered_from_the_cache() -> None:
    """Read-scope GETs of the cached routers are; an ``@uncached`` one (a bucket listing) and
    everything else (writes, the keys and auth routes, public probes) are not."""
    from fastapi.routing import APIRoute

    from tradeopt_common.auth.key_routes import router as keys
    from tradeopt_common.jobs.routes import router as jobs
    from tradeopt_common.web.auth import router as auth
    from tradeopt_training.routes.models import router as models
    from tradeopt_training.routes.runs import router as runs

    wrapped = {
        (route.path, method)
        for router in (runs, models, jobs, keys, auth)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if route.get_route_handler().__name__ == "cached"
    }
    assert ("/api/v1/runs/{run_id}", "GET") in wrapped
    assert ("/api/v1/runs", "GET") in wrapped
    assert ("/api/v1/models/{model_id}", "GET") in wrapped
    assert ("/api/v1/jobs/{job_id}", "GET") in wrapped
    assert ("/api/v1/runs/{run_id}/checkpoints", "GET") not in wrapped
    assert not any(path.startswith(("/api/v1/keys", "/api/v1/auth")) for path, _ in wrapped)
    assert {method for _, method in wrapped} == {"GET"}
