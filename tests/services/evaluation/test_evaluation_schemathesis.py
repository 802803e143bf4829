"""Property-based API testing: schemathesis drives the evaluation service's own OpenAPI document
against a live uvicorn server (real PostgreSQL, Redis, S3) and finds no 5xx."""

from __future__ import annotations

import sys
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import API_KEY, REDIS_URL
from tests.support.processes import ManagedProcess, free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_evaluation_api(pg_url, s3_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = {
        "TRADING_OPT_ENV": "test",
        "TRADING_OPT_DB_URI": pg_url,
        "TRADING_OPT_REDIS_URI": REDIS_URL,
        "TRADING_OPT_STORAGE_ENDPOINT": s3_server.endpoint,
        "TRADING_OPT_STORAGE_ACCESS_KEY": s3_server.access_key,
        "TRADING_OPT_STORAGE_SECRET_KEY": s3_server.secret_key,
        "TRADING_OPT_STORAGE_BUCKET": f"tradeopt-fuzz-{uuid.uuid4().hex[:8]}",
        "TRADING_OPT_API_KEY": API_KEY,
        "TRADING_OPT_DATA_DIR": str(tmp / "data"),
        "TRADING_OPT_LOG_LEVEL": "WARNING",
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "tradeopt_evaluation.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = ManagedProcess("evaluation-api", argv, env, tmp).start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not server.alive():
            raise AssertionError(server.log()[-3000:])
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, 0.2, "evaluation API")
    yield base
    server.stop()
    errors = [line for line in server.log().splitlines() if "request.crashed" in line]
    assert not errors, errors


def _openapi_document() -> dict:
    """The service's own OpenAPI document (generating it needs no lifespan or servers)."""
    from tradeopt_evaluation.app import create_app

    return create_app().openapi()


# Loaded at import from the app itself; the calls go to the live server below.
schema = schemathesis.openapi.from_dict(_openapi_document())


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case, live_evaluation_api):
    case.call_and_validate(
        base_url=live_evaluation_api,
        headers={"Authorization": f"Bearer {API_KEY}"},
        checks=[not_a_server_error],
        timeout=30,
    )
