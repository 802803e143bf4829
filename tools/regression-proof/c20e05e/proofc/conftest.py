"""proofc: load c20e05e's own test fixtures (tests/conftest.py restricts ``import *`` by __all__).

The in-process clients are c20's, except that an unhandled exception is answered as the 500 a
real client sees (``raise_app_exceptions=False``) instead of being raised into the test.
"""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import (  # noqa: F401
    API_KEY,
    REDIS_URL,
    _clear_settings_caches,
    clean_db,
    data_app,
    evaluation_app,
    fleet_env,
    log_dir,
    pg_url,
    redis_url,
    s3_server,
    training_app,
)


def _as_client(app: object, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=f"http://{host}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


@pytest.fixture
async def client(data_app) -> AsyncIterator[httpx.AsyncClient]:
    async with _as_client(data_app, "data.test") as c:
        yield c


@pytest.fixture
async def training_client(training_app) -> AsyncIterator[httpx.AsyncClient]:
    async with _as_client(training_app, "training.test") as c:
        yield c


@pytest.fixture
async def evaluation_client(evaluation_app) -> AsyncIterator[httpx.AsyncClient]:
    async with _as_client(evaluation_app, "evaluation.test") as c:
        yield c


from tests.deploy.conftest import compose_cmd, kubectl, kustomize  # noqa: E402,F401
