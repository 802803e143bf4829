"""What a client can send that used to be a 500 (issue "Hardening", items 13, 14, 19, 20):
plain dates and naive date-times (UTC by DESIGN §3), out-of-range instants, ``NaN``/``Infinity``
and deep nesting in JSON bodies, naive cursors — a clear 4xx or the UTC reading, on every service,
in-process with the real database — and crash logs that print neither local variables nor the
bearer key.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest
from fastapi import APIRouter

from tests.conftest import API_KEY, _admin_client
from tests.support.jobrun import ingest, run_job
from tradeopt_common.logging import configure_logging
from tradeopt_common.web.middleware import MAX_JSON_DEPTH, json_body_problem

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"

# One write route per service, with the request body's required fields.
WRITE_ROUTES = {
    "client": ("/api/v1/datasets", {"source": "sample", "symbol": "SPY"}),
    "training_client": ("/api/v1/runs", {"dataset_id": str(uuid.uuid4())}),
    "tuning_client": ("/api/v1/studies", {"dataset_id": str(uuid.uuid4())}),
    "evaluation_client": (
        "/api/v1/evaluations",
        {"dataset_id": str(uuid.uuid4()), "baseline": "flat"},
    ),
}


def _raw(body: dict, extra: str) -> bytes:
    """``body`` as JSON text with ``extra`` (a raw JSON fragment) as one more member."""
    text = json.dumps(body)
    return (text[:-1] + ", " + extra + "}").encode()


@pytest.fixture
def service_clients(client, training_client, tuning_client, evaluation_client) -> dict:
    """Every service's in-process client, by the fixture names of :data:`WRITE_ROUTES`."""
    return {
        "client": client,
        "training_client": training_client,
        "tuning_client": tuning_client,
        "evaluation_client": evaluation_client,
    }


async def test_non_json_numbers_are_a_400_on_every_service(service_clients):
    for name, (path, body) in WRITE_ROUTES.items():
        for constant in ("NaN", "Infinity", "-Infinity"):
            resp = await service_clients[name].post(
                path,
                content=_raw(body, f'"limit": {constant}'),
                headers={"Content-Type": "application/json"},
            )
            assert resp.status_code == 400, (path, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert constant.lstrip("-") in resp.json()["detail"]


async def test_deeply_nested_bodies_are_a_400_on_every_service(service_clients):
    for name, (path, body) in WRITE_ROUTES.items():
        for depth in (MAX_JSON_DEPTH + 1, 100_000):  # the second broke the recursion limit
            resp = await service_clients[name].post(
                path,
                content=_raw(body, '"env": ' + "[" * depth + "]" * depth),
                headers={"Content-Type": "application/json"},
            )
            assert resp.status_code == 400, (path, resp.text[:300])
            assert "nests deeper" in resp.json()["detail"]


def test_plain_json_passes_and_the_check_names_the_problem():
    assert json_body_problem(b'{"a": [1, 2.5, null, {"b": "NaN"}]}') is None
    assert json_body_problem(b"{not json") is None  # the framework's own 422 reports syntax
    assert "NaN" in (json_body_problem(b'{"a": NaN}') or "")
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_body_problem(nested) is None
    assert json_body_problem(b"[" + nested + b"]") is not None


async def test_a_float_query_nan_in_a_422_renders(client):
    # A 422 that echoes a non-finite input must still render (JSON has no NaN).
    resp = await client.get("/api/v1/datasets", params={"limit": "nan"})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith(PROBLEM)


async def test_plain_dates_and_naive_date_times_are_utc(client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    bars = await client.get(
        f"/api/v1/datasets/{spy['id']}/bars",
        params={"start": "2023-09-25", "end": "2023-09-29", "limit": 100},
    )
    assert bars.status_code == 200, bars.text
    times = [row["t"] for row in bars.json()["items"]]
    assert times and times[0].startswith("2023-09-25") and times[-1].startswith("2023-09-29")
    naive = await client.get(
        f"/api/v1/datasets/{spy['id']}/bars",
        params={"start": "2023-09-25T00:00:00", "end": "2023-09-29T23:59:59", "limit": 100},
    )
    assert [row["t"] for row in naive.json()["items"]] == times
    for start, end in (("2023-01-03", "2023-09-29"), ("2023-01-03T00:00:00", "2023-09-29")):
        resp = await evaluation_client.post(
            "/api/v1/evaluations",
            json={"dataset_id": spy["id"], "baseline": "buy_and_hold", "start": start, "end": end},
        )
        assert resp.status_code == 202, resp.text
        job = await run_job(evaluation_client, resp.json()["job_id"])
        assert job["status"] == "succeeded", job


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1600-01-01"])
async def test_instants_outside_the_bar_range_are_a_422_naming_the_field(
    client, evaluation_client, when
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    preview = await client.post(
        f"/api/v1/datasets/{spy['id']}/features/preview", json={"start": when}
    )
    assert preview.status_code == 422, preview.text
    assert any(e["loc"][-1] == "start" for e in preview.json()["errors"])
    assert "supported range" in preview.json()["detail"]
    evaluation = await evaluation_client.post(
        "/api/v1/evaluations", json={"dataset_id": spy["id"], "baseline": "flat", "end": when}
    )
    assert evaluation.status_code == 422, evaluation.text
    bars = await client.get(f"/api/v1/datasets/{spy['id']}/bars", params={"end": when})
    assert bars.status_code == 422, bars.text


async def test_an_extreme_normalization_end_on_a_preview_is_a_422_naming_the_field(client):
    """Item 20: ``normalize_train_end`` of 0001 or 9999 on features/preview raised
    ``OverflowError`` (a 500) where the statistics were fitted."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    for when in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        preview = await client.post(
            f"/api/v1/datasets/{spy['id']}/features/preview", json={"normalize_train_end": when}
        )
        assert preview.status_code == 422, (when, preview.text)
        assert [e["loc"][-1] for e in preview.json()["errors"]] == ["normalize_train_end"]
        assert "supported range" in preview.json()["detail"]


async def test_a_cursor_with_a_naive_timestamp_is_read_as_utc(client):
    for _ in range(3):
        await ingest(client, {"source": "sample", "symbol": "SPY"})
    first = (await client.get("/api/v1/datasets", params={"limit": 1})).json()
    created, id_ = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=="))
    naive = created.replace("+00:00", "").replace("Z", "")
    cursor = base64.urlsafe_b64encode(json.dumps([naive, id_]).encode()).decode().rstrip("=")
    resp = await client.get("/api/v1/datasets", params={"limit": 1, "cursor": cursor})
    assert resp.status_code == 200, resp.text
    again = await client.get(
        "/api/v1/datasets", params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert resp.json()["items"] == again.json()["items"]


async def test_a_crash_logs_a_plain_traceback_without_locals_or_the_key(data_app, capfd):
    """Item 14/19: the console log printed tracebacks with local variables (the bearer key 72
    times, megabytes per crash, seconds on the event loop)."""
    secret_local = f"sk-{uuid.uuid4().hex}"
    crash = APIRouter()

    @crash.get("/api/v1/crash-for-test")
    async def _crash() -> None:
        held = secret_local  # a local variable a rich traceback would print
        raise RuntimeError(f"boom {len(held)}")

    data_app.include_router(crash)
    configure_logging("INFO", json=False)
    try:
        async with _admin_client(data_app, "data.test", raise_app_exceptions=False) as c:
            resp = await c.get("/api/v1/crash-for-test")
        assert resp.status_code == 500
        assert resp.headers["content-type"].startswith(PROBLEM)
        logging.getLogger().handlers[0].flush()
        err = capfd.readouterr().err
        assert "request.crashed" in err and "RuntimeError: boom" in err
        assert secret_local not in err and API_KEY not in err
    finally:
        logging.getLogger().handlers[:] = []


async def test_logging_a_crash_does_not_stall_other_requests(data_app, capfd):
    """Item 19: a 500's console traceback was rendered with every local variable on the event
    loop (1-3 MB, seconds per crash): ``/healthz`` waited for it. A request sent while a crash
    with large locals is logged is answered at once, and the crash itself too."""
    import asyncio
    import time

    crash = APIRouter()

    @crash.get("/api/v1/crash-with-large-locals-for-test")
    async def _crash() -> None:
        # locals a real handler holds (request frames, a frame of data, ...)
        table = {f"row-{i}": list(range(50)) for i in range(20_000)}
        blob = "x" * 1_000_000
        raise RuntimeError(f"boom {len(table)} {len(blob)}")

    data_app.include_router(crash)
    configure_logging("INFO", json=False)
    try:
        async with _admin_client(data_app, "data.test", raise_app_exceptions=False) as c:
            assert (await c.get("/healthz")).status_code == 200  # warm
            origin = time.perf_counter()

            async def timed(path: str, delay: float = 0.0) -> tuple[int, float]:
                # timed from when the request was due: a blocked event loop delays the wake-up
                # itself, which a timer started after the sleep would miss
                await asyncio.sleep(delay)
                resp = await c.get(path)
                return resp.status_code, time.perf_counter() - origin - delay

            (crash_status, crash_s), (health_status, health_s) = await asyncio.gather(
                timed("/api/v1/crash-with-large-locals-for-test"), timed("/healthz", 0.3)
            )
        logging.getLogger().handlers[0].flush()
        assert "RuntimeError: boom" in capfd.readouterr().err
        assert crash_status == 500 and health_status == 200
        assert health_s < 0.5, f"/healthz took {health_s:.2f} s while a crash was being logged"
        assert crash_s < 0.5, f"logging one crash took {crash_s:.2f} s"
    finally:
        logging.getLogger().handlers[:] = []


async def test_requests_that_could_only_fail_later_are_a_422_naming_the_field(
    client, training_client, evaluation_client
):
    """Item 21: values that used to be accepted, then failed in the job (raw SQL errors, NaN
    logits, a 2 TiB allocation) or raised ``TypeError`` there."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    base = {"dataset_id": spy["id"], "algorithm": "ppo", "total_timesteps": 256}
    for body, field in (
        ({**base, "env": {"cost_bps": 1e308}}, "cost_bps"),
        ({**base, "env": {"slippage_bps": 1e308}}, "slippage_bps"),
        ({**base, "env": {"max_leverage": 1e308}}, "max_leverage"),
        ({**base, "env": {"initial_cash": 1e308}}, "initial_cash"),
        ({**base, "env": {"window": 10**9}}, "window"),
        ({**base, "hyperparams": {"learning_rate": 1e308}}, "learning_rate"),
        ({**base, "hyperparams": {"n_steps": 10**9}}, "n_steps"),
        ({**base, "algorithm": "dqn", "hyperparams": {"buffer_size": 10**10}}, "buffer_size"),
    ):
        resp = await training_client.post("/api/v1/runs", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert field in resp.text, (field, resp.text)
    assert (await training_client.get("/api/v1/runs")).json()["items"] == []
    for params, word in (
        ({"fast": 0, "slow": -1}, "fast"),
        ({"fast": 50, "slow": 20}, "fast (50) must be < slow (20)"),
        ({"window": 3}, "window"),
    ):
        resp = await evaluation_client.post(
            "/api/v1/evaluations",
            json={
                "dataset_id": spy["id"],
                "baseline": "sma_crossover",
                "baseline_params": params,
            },
        )
        assert resp.status_code == 422, (params, resp.text)
        assert word in resp.json()["detail"], resp.text
    for start in ("0001-01-01T00:00:00Z", "9999-01-01"):
        resp = await client.post(
            "/api/v1/datasets", json={"source": "synthetic", "bars": 100, "start": start}
        )
        assert resp.status_code == 422, resp.text
        assert "supported range" in resp.json()["detail"]


async def test_a_json_route_given_another_media_type_is_a_415_on_every_service(service_clients):
    """Item 25: a wrong media type was a 415 on uploads but a 422 everywhere else."""
    for name, (path, body) in WRITE_ROUTES.items():
        for media in ("text/plain", "application/x-www-form-urlencoded"):
            resp = await service_clients[name].post(
                path, content=json.dumps(body).encode(), headers={"Content-Type": media}
            )
            assert resp.status_code == 415, (path, media, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert "application/json" in resp.json()["detail"]
    # a JSON body that is the wrong shape is still a 422
    resp = await service_clients["training_client"].post("/api/v1/runs", json=[1, 2])
    assert resp.status_code == 422
