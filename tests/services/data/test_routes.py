"""The data service's HTTP contract: happy paths and every kind of bad request (problem+json)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import API_KEY

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
SPY = {"source": "sample", "symbol": "SPY"}


def assert_problem(resp: httpx.Response, status: int, *, contains: str = "") -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body = resp.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert contains.lower() in body["detail"].lower(), body
    return body


async def _key(data_app, scopes: list[str]) -> str:
    from tradeopt_common.auth.keys import Scope, create_key

    async with data_app.state.tradeopt.db.unit_of_work() as s:
        _, key = await create_key(s, "t", [Scope(x) for x in scopes])
    return key


class TestCreateDataset:
    async def test_accepted_with_location_and_queued_job(self, client):
        resp = await client.post("/api/v1/datasets", json=SPY)
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert resp.headers["location"] == f"/api/v1/datasets/{body['id']}"
        assert body["status"] == "queued"
        assert body["symbols"] == ["SPY"]
        job = (await client.get(f"/api/v1/jobs/{body['job_id']}")).json()
        assert job["status"] == "queued"
        assert job["kind"] == "data.ingest_bars"
        assert job["resource_id"] == body["id"]

    async def test_job_message_is_on_the_data_queue_with_id_only(self, client, redis_url):
        import json

        import redis

        resp = await client.post("/api/v1/datasets", json=SPY)
        job_id = resp.json()["job_id"]
        raw = redis.Redis.from_url(redis_url).lrange("data", 0, -1)
        messages = [json.loads(m) for m in raw]
        mine = [m for m in messages if m["headers"]["id"] == job_id]
        assert len(mine) == 1
        assert mine[0]["headers"]["task"] == "data.ingest_bars"

    async def test_idempotency_key_replays_the_first_response(self, client):
        headers = {"Idempotency-Key": "abc-123"}
        first = await client.post("/api/v1/datasets", json=SPY, headers=headers)
        second = await client.post("/api/v1/datasets", json=SPY, headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        assert second.headers["idempotent-replayed"] == "true"
        assert second.headers["location"] == first.headers["location"]
        listed = (await client.get("/api/v1/datasets")).json()["items"]
        assert len(listed) == 1
        other = await client.post(
            "/api/v1/datasets", json={"source": "sample", "symbol": "QQQ"}, headers=headers
        )
        assert_problem(other, 422, contains="different request")

    async def test_concurrent_requests_with_one_key_create_one_dataset(self, client):
        headers = {"Idempotency-Key": "same-key"}
        results = await asyncio.gather(
            *[client.post("/api/v1/datasets", json=SPY, headers=headers) for _ in range(4)]
        )
        ok = [r for r in results if r.status_code == 202]
        assert ok
        assert {r.json()["id"] for r in ok} == {ok[0].json()["id"]}
        assert all(r.status_code in (202, 409) for r in results)
        assert len((await client.get("/api/v1/datasets")).json()["items"]) == 1


class TestBadRequests:
    async def test_no_key(self, data_app):
        transport = httpx.ASGITransport(app=data_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anon:
            resp = await anon.get("/api/v1/datasets")
        body = assert_problem(resp, 401, contains="missing API key")
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert body["instance"] == "/api/v1/datasets"

    @pytest.mark.parametrize("header", ["Bearer nope", "Bearer to_abcdefabcdef_wrong", "Basic x"])
    async def test_bad_key(self, client, header):
        resp = await client.get("/api/v1/datasets", headers={"Authorization": header})
        assert_problem(resp, 401)

    async def test_revoked_key(self, client, data_app):
        from tradeopt_common.auth.keys import revoke_key

        key = await _key(data_app, ["read"])
        headers = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/api/v1/datasets", headers=headers)).status_code == 200
        async with data_app.state.tradeopt.db.unit_of_work() as s:
            await revoke_key(s, key.split("_")[1])
        assert_problem(await client.get("/api/v1/datasets", headers=headers), 401)

    async def test_wrong_scope(self, client, data_app):
        key = await _key(data_app, ["read"])
        resp = await client.post(
            "/api/v1/datasets", json=SPY, headers={"Authorization": f"Bearer {key}"}
        )
        assert_problem(resp, 403, contains="write")

    async def test_malformed_json(self, client):
        resp = await client.post(
            "/api/v1/datasets",
            content=b'{"source": "sample", "symbol":',
            headers={"Content-Type": "application/json"},
        )
        assert_problem(resp, 400, contains="not valid JSON")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"source": "sample", "symbol": 5}, "symbol"),
            ({"source": "sample", "symbol": "NOPE"}, "symbol"),
            ({"source": "carrier-pigeon", "symbol": "SPY"}, "source"),
            ({"source": "sample"}, "symbol"),
            ({"source": "sample", "symbol": "SPY", "extra": 1}, "extra"),
            ([1, 2], ""),
        ],
    )
    async def test_wrong_types_list_field_errors(self, client, body, field):
        resp = await client.post("/api/v1/datasets", json=body)
        problem = assert_problem(resp, 422)
        assert problem["errors"], problem
        assert any(field in ".".join(e["loc"]) for e in problem["errors"]), problem

    async def test_unknown_and_malformed_ids(self, client):
        assert_problem(await client.get(f"/api/v1/datasets/{uuid.uuid4()}"), 404)
        assert_problem(await client.get(f"/api/v1/jobs/{uuid.uuid4()}"), 404)
        assert_problem(await client.delete(f"/api/v1/datasets/{uuid.uuid4()}"), 404)
        problem = assert_problem(await client.get("/api/v1/datasets/not-a-uuid"), 422)
        assert problem["errors"][0]["loc"] == ["path", "dataset_id"]

    async def test_oversize_body(self, client):
        huge = b'{"source": "sample", "symbol": "' + b"S" * (11 * 1024 * 1024) + b'"}'
        resp = await client.post(
            "/api/v1/datasets", content=huge, headers={"Content-Type": "application/json"}
        )
        assert_problem(resp, 413, contains="limit")

    async def test_oversize_chunked_body_without_length(self, client):
        async def chunks():
            yield b'{"source": "sample", "symbol": "'
            for _ in range(12):
                yield b"S" * (1024 * 1024)
            yield b'"}'

        resp = await client.post(
            "/api/v1/datasets", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_problem(resp, 413)

    async def test_bad_pagination(self, client):
        assert_problem(await client.get("/api/v1/datasets?limit=0"), 422)
        assert_problem(await client.get("/api/v1/datasets?limit=100000"), 422)
        assert_problem(await client.get("/api/v1/datasets?cursor=garbage"), 422)
        assert_problem(await client.get("/api/v1/datasets?status=sideways"), 422)

    async def test_unknown_route_and_method(self, client):
        assert_problem(await client.get("/api/v1/nothing-here"), 404)
        assert_problem(await client.put("/api/v1/datasets"), 405)

    async def test_cancel_finished_job_is_a_conflict(self, client):
        job_id = (await client.post("/api/v1/datasets", json=SPY)).json()["job_id"]
        assert (await client.post(f"/api/v1/jobs/{job_id}/cancel")).json()["status"] == "canceled"
        assert_problem(await client.post(f"/api/v1/jobs/{job_id}/cancel"), 409, contains="canceled")

    async def test_a_rejected_request_stores_nothing(self, client, data_app):
        from tradeopt_common.jobs.models import Job
        from tradeopt_data.models import Dataset

        await client.post("/api/v1/datasets", json={"source": "sample", "symbol": "NOPE"})
        await client.post(
            "/api/v1/datasets", content=b"{", headers={"Content-Type": "application/json"}
        )
        async with data_app.state.tradeopt.db.unit_of_work() as s:
            assert (await s.execute(select(Dataset))).first() is None
            assert (await s.execute(select(Job))).first() is None


class TestListGetDelete:
    async def test_pagination_newest_first(self, client):
        ids = []
        for symbol in ("SPY", "QQQ", "IWM"):
            resp = await client.post(
                "/api/v1/datasets", json={"source": "sample", "symbol": symbol}
            )
            ids.append(resp.json()["id"])
        first = (await client.get("/api/v1/datasets?limit=2")).json()
        assert [d["id"] for d in first["items"]] == ids[::-1][:2]
        second = (
            await client.get(f"/api/v1/datasets?limit=2&cursor={first['next_cursor']}")
        ).json()
        assert [d["id"] for d in second["items"]] == [ids[0]]
        assert second["next_cursor"] is None
        queued = (await client.get("/api/v1/datasets?status=queued")).json()["items"]
        assert len(queued) == 3
        assert (await client.get("/api/v1/datasets?status=ready")).json()["items"] == []
        jobs = (await client.get("/api/v1/jobs?status=queued&kind=data.ingest_bars")).json()
        assert len(jobs["items"]) == 3

    async def test_delete_queued_dataset_cancels_its_job(self, client):
        created = (await client.post("/api/v1/datasets", json=SPY)).json()
        resp = await client.delete(f"/api/v1/datasets/{created['id']}")
        assert resp.status_code == 204
        assert_problem(await client.get(f"/api/v1/datasets/{created['id']}"), 404)
        job = (await client.get(f"/api/v1/jobs/{created['job_id']}")).json()
        assert job["status"] == "canceled"


class TestOperational:
    async def test_health_ready_metrics_are_open(self, data_app):
        transport = httpx.ASGITransport(app=data_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anon:
            assert (await anon.get("/healthz")).json()["status"] == "ok"
            ready = await anon.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) == {"database", "redis", "storage"}
            await anon.get("/api/v1/datasets")
            metrics = (await anon.get("/metrics")).text
            assert "http_requests_total" in metrics
            assert "tradeopt_jobs_queued" in metrics
            assert (await anon.get("/openapi.json")).status_code == 200

    async def test_request_id_is_echoed_or_made(self, client):
        resp = await client.get("/healthz", headers={"X-Request-ID": "req-42"})
        assert resp.headers["x-request-id"] == "req-42"
        assert len((await client.get("/healthz")).headers["x-request-id"]) == 32


async def test_a_redis_outage_keeps_reads_serving_and_refuses_jobs_with_503(fleet_env, monkeypatch):
    """A Redis blip must not take the API out of service (issue 16): readiness stays 200
    (``degraded``), reads answer, and job creation is a 503 with ``Retry-After``."""
    from tradeopt_common.config import get_settings
    from tradeopt_data.app import create_app
    from tradeopt_data.config import get_data_settings

    monkeypatch.setenv("TRADING_OPT_REDIS_URI", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    get_data_settings.cache_clear()
    app = create_app()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anon:
            ready = await anon.get("/readyz")
            listed = await anon.get("/api/v1/datasets", headers=auth)
            created = await anon.post(
                "/api/v1/datasets",
                json={"source": "synthetic", "symbols": ["SYN"], "bars": 300},
                headers=auth,
            )
            too_big = await anon.post(  # a client error stays one: 422, not 503
                "/api/v1/datasets",
                json={
                    "source": "synthetic",
                    "symbols": [f"S{i}" for i in range(10)],
                    "bars": 1_000_000,  # refused by the service (dates, row cap), not the schema
                },
                headers=auth,
            )
            after = await anon.get("/api/v1/datasets", headers=auth)
    assert too_big.status_code == 422, too_big.text
    assert "bars" in too_big.json()["detail"]  # what the service found wrong, not the broker
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == ["redis"]
    assert ready.json()["checks"]["redis"]["ok"] is False
    assert listed.status_code == 200, listed.text
    assert created.status_code == 503, created.text
    assert created.headers["retry-after"] and "broker" in created.json()["detail"]
    assert after.json()["items"] == listed.json()["items"]  # nothing half-created


async def test_readyz_is_503_without_the_database(fleet_env, monkeypatch):
    from tradeopt_common.config import get_settings
    from tradeopt_data.app import create_app
    from tradeopt_data.config import get_data_settings

    monkeypatch.setenv("TRADING_OPT_DB_URI", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    get_data_settings.cache_clear()
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anon:
            resp = await anon.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "not ready"
    assert resp.json()["checks"]["database"]["ok"] is False


__all__ = ["API_KEY"]


async def test_lists_count_their_rows_when_asked(client):
    """``total=true`` counts every row matching the filters across pages (issue 16 #22), on every
    list route through the shared listing (datasets here, jobs too); without it no count runs."""
    for i in range(3):
        resp = await client.post(
            "/api/v1/datasets", json={"source": "synthetic", "symbols": [f"T{i}"], "bars": 300}
        )
        assert resp.status_code == 202, resp.text
    page = (await client.get("/api/v1/datasets", params={"limit": 2, "total": "true"})).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(
        "/api/v1/datasets", params={"limit": 2, "total": "true", "cursor": page["next_cursor"]}
    )
    assert rest.json()["total"] == 3 and len(rest.json()["items"]) == 1
    queued = await client.get("/api/v1/datasets", params={"status": "queued", "total": "true"})
    assert queued.json()["total"] == 3
    ready = await client.get("/api/v1/datasets", params={"status": "ready", "total": "true"})
    assert ready.json() == {"items": [], "next_cursor": None, "total": 0}
    assert (await client.get("/api/v1/datasets")).json()["total"] is None
    jobs = await client.get("/api/v1/jobs", params={"kind": "data.ingest_bars", "total": "true"})
    assert jobs.json()["total"] == 3
    bad = await client.get("/api/v1/datasets", params={"total": "maybe"})
    assert bad.status_code == 422
