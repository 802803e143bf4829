"""A service API as a live uvicorn process, for tests that need a real server (schemathesis, a
training API that a job in this process calls over HTTP)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.processes import ManagedProcess, free_port, wait_for


def fuzz_env(pg_url: str, redis_url: str, s3_server, tmp: Path, api_key: str) -> dict[str, str]:
    """Settings of a standalone API process on the test database, Redis and a fresh bucket."""
    return {
        "TRADING_OPT_ENV": "test",
        "TRADING_OPT_DB_URI": pg_url,
        "TRADING_OPT_REDIS_URI": redis_url,
        "TRADING_OPT_STORAGE_ENDPOINT": s3_server.endpoint,
        "TRADING_OPT_STORAGE_ACCESS_KEY": s3_server.access_key,
        "TRADING_OPT_STORAGE_SECRET_KEY": s3_server.secret_key,
        "TRADING_OPT_STORAGE_BUCKET": f"tradeopt-fuzz-{uuid.uuid4().hex[:8]}",
        "TRADING_OPT_API_KEY": api_key,
        "TRADING_OPT_DATA_DIR": str(tmp / "data"),
        "TRADING_OPT_LOG_LEVEL": "WARNING",
    }


@contextmanager
def starting_api(
    app: str, env: dict[str, str], log_dir: Path, name: str
) -> Iterator[tuple[str, Callable[[], None]]]:
    """Start ``uvicorn <app> --factory`` on a spare port and yield at once: its base URL and a
    function that waits until it serves ``/healthz`` (so that other processes can start while it
    does). Stopped when the block ends; its log must then hold no ``request.crashed`` line (an
    unhandled exception).
    """
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1"]
    server = ManagedProcess(name, [*argv, "--port", str(port)], env, log_dir).start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not server.alive():
            raise AssertionError(server.log()[-3000:])
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        yield base, lambda: wait_for(up, 60, 0.2, name)
    finally:
        server.stop()
    errors = [line for line in server.log().splitlines() if "request.crashed" in line]
    assert not errors, errors


@contextmanager
def live_api(app: str, env: dict[str, str], log_dir: Path, name: str) -> Iterator[str]:
    """Run ``uvicorn <app> --factory`` on a spare port until the block ends; yields its base URL
    once it serves.

    On exit the server log must hold no ``request.crashed`` line (an unhandled exception).
    """
    with starting_api(app, env, log_dir, name) as (base, wait_up):
        wait_up()
        yield base
