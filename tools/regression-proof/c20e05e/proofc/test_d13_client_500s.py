"""Defect #13 (500s a client can cause): a plain date on POST /api/v1/evaluations, a cursor with a
naive timestamp on a list route, a deeply nested JSON body on POST /datasets (and every service).

Mirrors main's tests/services/test_client_input.py::
  test_plain_dates_and_naive_date_times_are_utc (evaluation part),
  test_a_cursor_with_a_naive_timestamp_is_read_as_utc,
  test_deeply_nested_bodies_are_a_400_on_every_service.
Adapted: c20e05e has no tuning service (its route is dropped); MAX_JSON_DEPTH (32 on main) is
inlined. Expected on c20e05e: 500 (naive datetime into timestamptz) / 500 on the naive cursor /
500 (RecursionError) or no 400 on the nested body.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
MAX_JSON_DEPTH = 32  # main's tradeopt_common.web.middleware.MAX_JSON_DEPTH

WRITE_ROUTES = {
    "client": ("/api/v1/datasets", {"source": "sample", "symbol": "SPY"}),
    "training_client": ("/api/v1/runs", {"dataset_id": str(uuid.uuid4())}),
    "evaluation_client": (
        "/api/v1/evaluations",
        {"dataset_id": str(uuid.uuid4()), "baseline": "flat"},
    ),
}


def _raw(body: dict, extra: str) -> bytes:
    text = json.dumps(body)
    return (text[:-1] + ", " + extra + "}").encode()


async def test_d13a_plain_date_on_evaluations_is_utc(client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    for start, end in (("2023-01-03", "2023-09-29"), ("2023-01-03T00:00:00", "2023-09-29")):
        resp = await evaluation_client.post(
            "/api/v1/evaluations",
            json={"dataset_id": spy["id"], "baseline": "buy_and_hold", "start": start, "end": end},
        )
        assert resp.status_code == 202, (start, end, resp.status_code, resp.text[:300])
        job = await run_job(evaluation_client, resp.json()["job_id"])
        assert job["status"] == "succeeded", job


async def test_d13b_a_cursor_with_a_naive_timestamp_is_read_as_utc(client):
    for _ in range(3):
        await ingest(client, {"source": "sample", "symbol": "SPY"})
    first = (await client.get("/api/v1/datasets", params={"limit": 1})).json()
    created, id_ = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=="))
    naive = created.replace("+00:00", "").replace("Z", "")
    cursor = base64.urlsafe_b64encode(json.dumps([naive, id_]).encode()).decode().rstrip("=")
    resp = await client.get("/api/v1/datasets", params={"limit": 1, "cursor": cursor})
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    again = await client.get(
        "/api/v1/datasets", params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert resp.json()["items"] == again.json()["items"]


async def test_d13c_deeply_nested_bodies_are_a_400_on_every_service(
    client, training_client, evaluation_client
):
    clients = {
        "client": client,
        "training_client": training_client,
        "evaluation_client": evaluation_client,
    }
    for name, (path, body) in WRITE_ROUTES.items():
        # main's order is (33, 100_000); the deep one first here, since it is the one that broke
        # the recursion limit (a 33-deep body is a plain 422 on c20e05e, not the defect)
        for depth in (100_000, MAX_JSON_DEPTH + 1):
            resp = await clients[name].post(
                path,
                content=_raw(body, '"env": ' + "[" * depth + "]" * depth),
                headers={"Content-Type": "application/json"},
            )
            assert resp.status_code < 500, (path, depth, resp.status_code, resp.text[:300])
            assert resp.status_code == 400, (path, depth, resp.status_code, resp.text[:300])
            assert "nests deeper" in resp.json()["detail"]
