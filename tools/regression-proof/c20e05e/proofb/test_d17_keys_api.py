"""Defect #17 (issue 16): no way to manage API keys over HTTP (``tradeopt keys create`` needs
direct database access). The fix is a new capability: ``POST/GET/DELETE /api/v1/keys``.

Mirrors (main): tests/services/test_keys_api.py::test_create_list_use_and_revoke_keys and
::test_bad_key_requests_are_clear_4xx — copied unchanged (same fixtures ``client``/``data_app``
exist in c20e05e). Expected on c20e05e: 404 for ``POST /api/v1/keys`` (the route does not exist);
the bad-request test gets 404 instead of 422.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def _as(app: object, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://data.test",
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_create_list_use_and_revoke_keys(client, data_app):
    created = await client.post("/api/v1/keys", json={"name": "ci reader", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("to_") and body["scopes"] == ["read"]
    assert created.headers["location"] == f"/api/v1/keys/{body['id']}"
    writer = (await client.post("/api/v1/keys", json={"name": "ops", "scopes": ["write"]})).json()

    listed = (await client.get("/api/v1/keys")).json()["items"]
    assert [k["id"] for k in listed] == [writer["id"], body["id"]]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    shown = (await client.get(f"/api/v1/keys/{body['id']}")).json()
    assert shown["prefix"] == body["prefix"] and "key" not in shown

    async with _as(data_app, body["key"]) as reader:
        assert (await reader.get("/api/v1/datasets")).status_code == 200
        for method, path, payload in (
            ("GET", "/api/v1/keys", None),
            ("POST", "/api/v1/keys", {"name": "escalate", "scopes": ["admin"]}),
            ("DELETE", f"/api/v1/keys/{writer['id']}", None),
        ):
            refused = await reader.request(method, path, json=payload)
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.headers["content-type"].startswith(PROBLEM)
    async with _as(data_app, writer["key"]) as ops:
        assert (await ops.get("/api/v1/keys")).status_code == 403

    revoked = await client.delete(f"/api/v1/keys/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await client.delete(f"/api/v1/keys/{body['id']}")).status_code == 200  # harmless
    async with _as(data_app, body["key"]) as reader:
        assert (await reader.get("/api/v1/datasets")).status_code == 401
    active = (await client.get("/api/v1/keys")).json()["items"]
    assert [k["id"] for k in active] == [writer["id"]]
    everything = (await client.get("/api/v1/keys", params={"include_revoked": True})).json()
    assert {k["id"] for k in everything["items"]} == {writer["id"], body["id"]}


async def test_bad_key_requests_are_clear_4xx(client):
    for payload in (
        {},
        {"name": ""},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "colour": "red"},
        {"name": "line\nbreak"},
    ):
        resp = await client.post("/api/v1/keys", json=payload)
        assert resp.status_code == 422, (payload, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
    for method in ("GET", "DELETE"):
        missing = await client.request(method, f"/api/v1/keys/{uuid.uuid4()}")
        assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
    assert (await client.get("/api/v1/keys/not-a-uuid")).status_code == 422
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://data.test"
    ) as anonymous:
        assert (await anonymous.get("/api/v1/keys")).status_code == 401
