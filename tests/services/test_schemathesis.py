"""Property-based API testing: for every built service of ``services.yaml``, schemathesis drives
the service's own OpenAPI document against a live uvicorn server (real PostgreSQL, Redis, S3) and
finds no 5xx."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from scripts.manifest.model import Service
from scripts.manifest.model import load as load_manifest
from tests.conftest import API_KEY, REDIS_URL
from tests.support.live import fuzz_env, live_api

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live_service_api(request, pg_url, s3_server, tmp_path_factory) -> Iterator[str]:
    """The API of the service given as the (indirect) parameter, live; yields its base URL."""
    service: Service = request.param
    tmp = tmp_path_factory.mktemp(f"schemathesis-{service.name}")
    env = fuzz_env(pg_url, REDIS_URL, s3_server, tmp, API_KEY)
    with live_api(f"{service.package}.app:create_app", env, tmp, f"{service.name}-api") as base:
        yield base


def _fuzz(service: Service) -> Callable[..., None]:
    """The test of one service: every operation of its OpenAPI document (loaded from the app
    itself, no lifespan or servers needed) called on its live server."""
    schema = schemathesis.openapi.from_dict(
        importlib.import_module(f"{service.package}.app").create_app().openapi()
    )

    @pytest.mark.parametrize("live_service_api", [service], indirect=True, ids=[service.name])
    @schema.parametrize()
    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def test_no_server_errors(case, live_service_api):
        case.call_and_validate(
            base_url=live_service_api,
            headers={"Authorization": f"Bearer {API_KEY}"},
            checks=[not_a_server_error],
            timeout=30,
        )

    return test_no_server_errors


for _service in load_manifest().built():
    globals()[f"test_{_service.name}_has_no_server_errors"] = _fuzz(_service)
