"""Property-based API testing: schemathesis drives the data service's own OpenAPI document
against a live uvicorn server (real PostgreSQL, Redis, S3) and finds no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import API_KEY, REDIS_URL
from tests.support.live import fuzz_env, live_api
from tradeopt_data.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_data_api(pg_url, s3_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    env = fuzz_env(pg_url, REDIS_URL, s3_server, tmp, API_KEY)
    with live_api("tradeopt_data.app:create_app", env, tmp, "data-api") as base:
        yield base


# Loaded at import from the app itself (no lifespan or servers needed); calls go to the server.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, live_data_api):
    case.call_and_validate(
        base_url=live_data_api,
        headers={"Authorization": f"Bearer {API_KEY}"},
        checks=[not_a_server_error],
        timeout=30,
    )
