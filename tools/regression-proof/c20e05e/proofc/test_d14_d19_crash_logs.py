"""Defects #14 (development console logs print tracebacks with local variables: the bearer key)
and #19 (every 500 freezes its service while the rich traceback is rendered on the event loop).

test_d14_... mirrors main's
  tests/services/test_client_input.py::test_a_crash_logs_a_plain_traceback_without_locals_or_the_key
(unchanged but for the fixture import path). Expected on c20e05e: the secret local / API key is
in the console log.

test_d19_... is NEW (main's own #19 coverage is the no-locals assertion above plus the
/healthz < 2 s bound in tests/services/test_hostile_inputs.py, a live-uvicorn test c20e05e cannot
run: its tests/support/live.py has no ``live_api``). It measures, in-process on one event loop,
how long a /healthz request sent while a crash is being logged takes, and how long the crash's
logging itself takes. Expected on c20e05e: /healthz waits for the traceback rendering.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import httpx
import pytest
from fastapi import APIRouter

from tests.conftest import API_KEY
from tradeopt_common.logging import configure_logging

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


async def test_d14_a_crash_logs_a_plain_traceback_without_locals_or_the_key(data_app, capfd):
    secret_local = f"sk-{uuid.uuid4().hex}"
    crash = APIRouter()

    @crash.get("/api/v1/crash-for-test")
    async def _crash() -> None:
        held = secret_local  # a local variable a rich traceback would print
        raise RuntimeError(f"boom {len(held)}")

    data_app.include_router(crash)
    configure_logging("INFO", json=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=data_app, raise_app_exceptions=False),
            base_url="http://data.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as c:
            resp = await c.get("/api/v1/crash-for-test")
        assert resp.status_code == 500
        assert resp.headers["content-type"].startswith(PROBLEM)
        logging.getLogger().handlers[0].flush()
        err = capfd.readouterr().err
        assert "request.crashed" in err and "RuntimeError: boom" in err
        print(
            "console log of one crash:",
            len(err),
            "characters,",
            err.count(API_KEY),
            "copies of the bearer key",
        )
        assert secret_local not in err and API_KEY not in err, (
            f"{err.count(API_KEY)} copies of the bearer key, "
            f"{err.count(secret_local)} of the secret local in {len(err)} chars of log"
        )
    finally:
        logging.getLogger().handlers[:] = []


async def test_d19_logging_a_crash_does_not_stall_other_requests(data_app, capfd):
    crash = APIRouter()

    @crash.get("/api/v1/crash-for-test-big")
    async def _crash_big() -> None:
        # locals a real handler holds (a request's frames, a frame of data, ...)
        table = {f"row-{i}": list(range(50)) for i in range(20_000)}
        blob = "x" * 1_000_000
        raise RuntimeError(f"boom {len(table)} {len(blob)}")

    data_app.include_router(crash)
    configure_logging("INFO", json=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=data_app, raise_app_exceptions=False),
            base_url="http://data.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as c:
            assert (await c.get("/healthz")).status_code == 200  # warm

            origin = time.perf_counter()

            async def timed(path: str, delay: float = 0.0) -> tuple[int, float]:
                # measured from when the request was due (origin + delay): a blocked event loop
                # delays the wake-up itself, which a timer started after the sleep would miss
                await asyncio.sleep(delay)
                resp = await c.get(path)
                return resp.status_code, time.perf_counter() - origin - delay

            (crash_status, crash_s), (health_status, health_s) = await asyncio.gather(
                timed("/api/v1/crash-for-test-big"), timed("/healthz", 0.3)
            )
        logging.getLogger().handlers[0].flush()
        err = capfd.readouterr().err
        print(
            f"crash answered in {crash_s:.2f} s, /healthz meanwhile in {health_s:.2f} s, "
            f"log {len(err)} chars"
        )
        assert crash_status == 500 and health_status == 200
        assert health_s < 0.5, f"/healthz took {health_s:.2f} s while a crash was being logged"
        assert crash_s < 0.5, f"logging one crash took {crash_s:.2f} s"
    finally:
        logging.getLogger().handlers[:] = []
