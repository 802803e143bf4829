"""Fixtures of the strategy service's tests: the app with its lifespan, an admin client, and a
registered model with an evaluation on record (trained and evaluated through the services'
own APIs, jobs run in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import tradeopt_strategy.jobs  # noqa: F401 - registers the job bodies for run_job
from tests.conftest import API_KEY
from tests.support.alpaca_fake import fake_alpaca
from tests.support.jobrun import ingest, run_job
from tests.support.runs import small_ppo

#: Credentials the fake Alpaca accepts.
ALPACA_KEY, ALPACA_SECRET = "PKFAKEKEY0000000", "fake-secret-0123456789abcdefghijkl"
#: A small PPO (a few seconds on a CPU) on the daily SPY sample.
RUN = small_ppo(total_timesteps=256)


@pytest.fixture
async def strategy_app(fleet_env: dict[str, str]) -> AsyncIterator[object]:
    """The strategy service app with its lifespan running."""
    from tradeopt_strategy.app import create_app
    from tradeopt_strategy.config import get_strategy_settings

    get_strategy_settings.cache_clear()
    app = create_app()
    async with app.router.lifespan_context(app):
        yield app
    get_strategy_settings.cache_clear()


@pytest.fixture
async def strategy_client(strategy_app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated (bootstrap admin) client for the in-process strategy service."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=strategy_app),
        base_url="http://strategy.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as c:
        yield c


async def train_model(training_client: httpx.AsyncClient, dataset_id: str, **run: object) -> str:
    """A registered model of a small PPO run on the dataset."""
    body = {**RUN, "dataset_id": dataset_id, "seed": 3, **run}
    created = (await training_client.post("/api/v1/runs", json=body)).json()
    assert (await run_job(training_client, created["job_id"]))["status"] == "succeeded"
    return (await training_client.get(f"/api/v1/runs/{created['id']}")).json()["model_id"]


async def evaluate(evaluation_client: httpx.AsyncClient, body: dict) -> dict:
    """An evaluation run to its end."""
    resp = await evaluation_client.post("/api/v1/evaluations", json=body)
    assert resp.status_code == 202, resp.text
    job = await run_job(evaluation_client, resp.json()["job_id"])
    assert job["status"] == "succeeded", job
    return resp.json()


async def replay(client: httpx.AsyncClient, body: dict) -> dict:
    """A replay session run in-process to its end; the session afterwards."""
    resp = await client.post("/api/v1/paper-sessions", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert resp.headers["location"] == f"/api/v1/paper-sessions/{created['id']}"
    await run_job(client, created["job_id"])
    return (await client.get(f"/api/v1/paper-sessions/{created['id']}")).json()


async def evaluated_strategy(
    client: httpx.AsyncClient,
    training_client: httpx.AsyncClient,
    evaluation_client: httpx.AsyncClient,
    strategy_client: httpx.AsyncClient,
) -> dict:
    """The SPY sample ingested, a small PPO model trained and evaluated on it, and a strategy of
    that model (the answer of ``POST /api/v1/strategies``)."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    model_id = await train_model(training_client, spy["id"])
    await evaluate(evaluation_client, {"model_id": model_id, "dataset_id": spy["id"]})
    resp = await strategy_client.post("/api/v1/strategies", json={"model_id": model_id})
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.fixture
def alpaca(monkeypatch, fleet_env):
    """A local fake of Alpaca's REST API (trading and market data), configured as the
    deployment's Alpaca settings."""
    with fake_alpaca(ALPACA_KEY, ALPACA_SECRET, price=250.0) as (url, fake):
        monkeypatch.setenv("ALPACA_API_KEY", ALPACA_KEY)
        monkeypatch.setenv("ALPACA_API_SECRET", ALPACA_SECRET)
        monkeypatch.setenv("ALPACA_BASE_URL", url)
        monkeypatch.setenv("ALPACA_DATA_URL", url)
        yield fake
