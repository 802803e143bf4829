"""``/api/v1/auth``: the gateway's ``auth_request`` check (scope by the original method) — on every
service through the shared app factory; real PostgreSQL and Redis, the data app in-process."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import API_KEY
from tradeopt_common.auth.keys import Scope, create_key, revoke_key
from tradeopt_common.jobs.models import Job
from tradeopt_common.web.auth import scope_for_method

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


async def _key(app, scopes: list[Scope]) -> str:
    async with app.state.tradeopt.db.unit_of_work() as s:
        _, key = await create_key(s, "t", scopes)
    return key


def _client(app, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://data.test", headers=headers
    )


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_scope_for_method() -> None:
    assert scope_for_method(None) is Scope.READ
    assert scope_for_method("") is Scope.READ
    for method in ("GET", "head", " get "):
        assert scope_for_method(method) is Scope.READ
    for method in ("POST", "put", "PATCH", "DELETE", "OPTIONS", "BREW"):
        assert scope_for_method(method) is Scope.WRITE


async def test_check_answers_by_scope_of_the_original_method(data_app) -> None:
    read_key = await _key(data_app, [Scope.READ])
    write_key = await _key(data_app, [Scope.WRITE])
    async with _client(data_app) as c:
        # no or bad credentials: 401 problem+json
        resp = await c.get("/api/v1/auth/check")
        assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)
        assert (await c.get("/api/v1/auth/check", headers=_bearer("to_nope"))).status_code == 401
        # read key: reads pass, writes 403
        for method in ("GET", "HEAD", None):
            headers = {**_bearer(read_key), **({"X-Original-Method": method} if method else {})}
            resp = await c.get("/api/v1/auth/check", headers=headers)
            assert resp.status_code == 204, (method, resp.text)
            assert resp.content == b""
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            resp = await c.get(
                "/api/v1/auth/check", headers={**_bearer(read_key), "X-Original-Method": method}
            )
            assert resp.status_code == 403 and resp.headers["content-type"].startswith(PROBLEM)
            assert "'write'" in resp.json()["detail"]
        # write and admin (bootstrap) keys pass both
        for key in (write_key, API_KEY):
            for method in ("GET", "POST", "DELETE"):
                resp = await c.get(
                    "/api/v1/auth/check", headers={**_bearer(key), "X-Original-Method": method}
                )
                assert resp.status_code == 204, resp.text
        # an over-long method header is a client error, not a 500
        resp = await c.get(
            "/api/v1/auth/check", headers={**_bearer(read_key), "X-Original-Method": "X" * 100}
        )
        assert resp.status_code == 422


async def test_check_respects_revocation(data_app) -> None:
    key = await _key(data_app, [Scope.WRITE])
    async with _client(data_app, **_bearer(key)) as c:
        assert (await c.get("/api/v1/auth/check")).status_code == 204
        async with data_app.state.tradeopt.db.unit_of_work() as s:
            await revoke_key(s, key.split("_")[1])
        assert (await c.get("/api/v1/auth/check")).status_code == 401


@pytest.mark.parametrize(
    "module", ["tradeopt_training.app", "tradeopt_tuning.app", "tradeopt_evaluation.app"]
)
def test_every_service_serves_the_check(module: str) -> None:
    import importlib

    app = importlib.import_module(module).create_app()
    assert "/api/v1/auth/check" in app.openapi()["paths"]


# --- sessions --------------------------------------------------------------------------------


def _cookie(resp: httpx.Response) -> str:
    (header,) = resp.headers.get_list("set-cookie")
    return header


async def test_session_cookie_stands_for_the_key(data_app) -> None:
    read_key = await _key(data_app, [Scope.READ])
    async with _client(data_app) as c:
        resp = await c.post("/api/v1/auth/session", json={"api_key": read_key})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert body["scopes"] == ["read"] and body["name"] == "t"
        assert "api_key" not in resp.text and read_key not in resp.text
        cookie = _cookie(resp)
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert cookie.startswith("tradeopt_session=")
        assert {"httponly", "path", "samesite", "max-age"} <= attrs
        assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        assert "secure" not in attrs  # plain http: a Secure cookie would never come back
        assert resp.headers["cache-control"] == "no-store"

        # the cookie authenticates every route like the key, with the key's scopes
        assert (await c.get("/api/v1/datasets")).status_code == 200
        check = await c.get("/api/v1/auth/check", headers={"X-Original-Method": "POST"})
        assert check.status_code == 403
        assert (await c.get("/api/v1/auth/check")).status_code == 204
        assert (await c.post("/api/v1/datasets", json={"source": "sample"})).status_code == 403

        # logout: the cookie is cleared and the session ends everywhere
        out = await c.delete("/api/v1/auth/session")
        assert out.status_code == 204
        assert 'tradeopt_session=""' in _cookie(out) or "max-age=0" in _cookie(out).lower()
        assert (await c.get("/api/v1/datasets")).status_code == 401
    # an old copy of the cookie is refused too (the row is gone)
    token = cookie.split(";")[0].split("=", 1)[1]
    async with _client(data_app) as c:
        c.cookies.set("tradeopt_session", token)
        resp = await c.get("/api/v1/auth/check")
        assert resp.status_code == 401 and "session" in resp.json()["detail"]


async def test_session_by_bearer_over_https_and_revocation(data_app) -> None:
    key = await _key(data_app, [Scope.WRITE])
    async with _client(data_app) as c:
        resp = await c.post(
            "/api/v1/auth/session", headers={**_bearer(key), "X-Forwarded-Proto": "https"}
        )
        assert resp.status_code == 201, resp.text
        assert "secure" in {a.strip().lower() for a in _cookie(resp).split(";")}
        token = _cookie(resp).split(";")[0].split("=", 1)[1]
    async with _client(data_app) as c:
        c.cookies.set("tradeopt_session", token)
        ok = await c.get("/api/v1/auth/check", headers={"X-Original-Method": "DELETE"})
        assert ok.status_code == 204
        async with data_app.state.tradeopt.db.unit_of_work() as s:
            await revoke_key(s, key.split("_")[1])
        assert (await c.get("/api/v1/auth/check")).status_code == 401  # revoked key: no session


async def test_bootstrap_session_and_bad_sign_ins(data_app) -> None:
    async with _client(data_app) as c:
        resp = await c.post("/api/v1/auth/session", json={"api_key": API_KEY})
        assert resp.status_code == 201 and resp.json()["scopes"] == ["admin"]
        assert (
            await c.get("/api/v1/auth/check", headers={"X-Original-Method": "PUT"})
        ).status_code == 204
    async with _client(data_app) as c:
        for kwargs in (
            {},  # no key at all
            {"json": {"api_key": "to_nope"}},
            {"headers": _bearer("wrong")},
        ):
            resp = await c.post("/api/v1/auth/session", **kwargs)
            assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)
            assert "set-cookie" not in resp.headers
        resp = await c.post("/api/v1/auth/session", json={"api_key": API_KEY, "extra": 1})
        assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
        resp = await c.post("/api/v1/auth/session", json={"api_key": ""})
        assert resp.status_code == 422
        assert "api_key" in str(resp.json()["errors"])
        c.cookies.set("tradeopt_session", "made-up")
        assert (await c.get("/api/v1/datasets")).status_code == 401
        assert (await c.delete("/api/v1/auth/session")).status_code == 204  # harmless


async def test_the_internal_service_key_writes_but_is_not_admin(data_app) -> None:
    """Calls between services (issue 16 #10) use a key derived from the bootstrap key with the
    write scope only: it creates resources as ``service``, never manages keys or opens a
    browser session; a key merely shaped like it is refused."""
    from tradeopt_common.auth.keys import service_key_for

    service_key = service_key_for(API_KEY)
    assert service_key != API_KEY and service_key.startswith("to_svc_")
    async with _client(data_app, **_bearer(service_key)) as c:
        assert (await c.get("/api/v1/datasets")).status_code == 200
        created = await c.post(
            "/api/v1/datasets",
            json={"source": "synthetic", "symbols": ["SVC"], "bars": 300},
        )
        assert created.status_code == 202, created.text
        async with data_app.state.tradeopt.db.unit_of_work() as s:
            job = await s.get(Job, uuid.UUID(created.json()["job_id"]))
        assert job is not None and job.created_by == "service"
        assert (await c.get("/api/v1/keys")).status_code == 403
        session = await c.post("/api/v1/auth/session", json={"api_key": service_key})
        assert session.status_code == 403, session.text
    forged = "to_svc_" + "0" * 64
    async with _client(data_app, **_bearer(forged)) as c:
        assert (await c.get("/api/v1/datasets")).status_code == 401
