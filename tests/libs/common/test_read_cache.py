"""The per-process cache of list pages (``TRADING_OPT_READ_CACHE_SECONDS``): what it serves, what
drops it, and that every request is still authenticated — the data service app in-process on
real PostgreSQL and Redis; and the cache's own bounds."""

from __future__ import annotations

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


class TestReadCacheBounds:
    def test_off_when_ttl_is_zero(self) -> None:
        cache = ReadCache(0)
        cache.put("k", b"{}", read_cache.commit_generation())
        assert not cache.enabled
        assert cache.get("k") is None

    def test_entry_expires_after_ttl(self, monkeypatch: pytest.MonkeyPatch) -> None:
        now = [1000.0]
        monkeypatch.setattr(read_cache.time, "monotonic", lambda: now[0])
        cache = ReadCache(2.0)
        cache.put("k", b"page", read_cache.commit_generation())
        now[0] += 1.9
        assert cache.get("k") == b"page"
        now[0] += 0.2
        assert cache.get("k") is None

    def test_a_commit_drops_entries_and_refuses_pages_read_before_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        generation = [7]
        monkeypatch.setattr(read_cache, "commit_generation", lambda: generation[0])
        cache = ReadCache(60)
        cache.put("old", b"a", 7)
        generation[0] = 8  # this process committed a write
        assert cache.get("old") is None
        cache.put("late", b"b", 7)  # its query started before the commit
        assert cache.get("late") is None
        cache.put("new", b"c", 8)
        assert cache.get("new") == b"c"

    def test_bounded(self) -> None:
        cache = ReadCache(60, max_entries=3)
        generation = read_cache.commit_generation()
        for i in range(4):
            cache.put(i, b"x", generation)
        assert len(cache._entries) <= 3
        assert cache.get(3) == b"x"


def _pg_dsn(db_uri: str) -> str:
    return db_uri.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _rename_behind_the_apps_back(db_uri: str, dataset_id: str, name: str) -> None:
    """A change committed outside this process's units of work (as another process would)."""
    conn = await asyncpg.connect(_pg_dsn(db_uri))
    try:
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


@pytest.fixture
async def cached_app(fleet_env, monkeypatch) -> AsyncIterator[object]:
    """The data app with list pages cached far beyond the test: only a commit of this process
    can end an entry's life."""
    monkeypatch.setenv("TRADING_OPT_READ_CACHE_SECONDS", "60")
    from tests.conftest import _clear_settings_caches

    _clear_settings_caches()
    async with _running_app("tradeopt_data.app") as app:
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
    async def test_served_from_the_cache_until_this_process_commits(self, cached_app, fleet_env):
        async with _client(cached_app, API_KEY) as admin:
            dataset_id = await _new_dataset(admin, "before")
            first = await admin.get(LIST)
            assert first.status_code == 200
            assert first.headers["content-type"] == "application/json"
            assert [d["name"] for d in first.json()["items"] if d["id"] == dataset_id] == ["before"]

            # Another process's change shows only after the TTL: the page is served as cached.
            await _rename_behind_the_apps_back(fleet_env["TRADING_OPT_DB_URI"], dataset_id, "x")
            assert (await admin.get(LIST)).content == first.content

            # A change committed here drops the cache at once.
            renamed = await admin.patch(f"/api/v1/datasets/{dataset_id}", json={"name": "after"})
            assert renamed.status_code == 200, renamed.text
            names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
            assert "after" in names and "before" not in names

            # Another query string is another page.
            other = await admin.get("/api/v1/datasets?limit=1")
            assert len(other.json()["items"]) == 1

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

    async def test_off_by_default_every_request_reads(self, data_app, fleet_env):
        assert not data_app.state.tradeopt.read_cache.enabled
        async with _client(data_app, API_KEY) as admin:
            dataset_id = await _new_dataset(admin, "uncached")
            assert (await admin.get(LIST)).status_code == 200
            await _rename_behind_the_apps_back(fleet_env["TRADING_OPT_DB_URI"], dataset_id, "y")
            names = [d["name"] for d in (await admin.get(LIST)).json()["items"]]
            assert "y" in names
