"""Shared fixtures: a real PostgreSQL test database (migrated), Redis (own db index), a real S3
server, settings for the fleet under test, and an in-process client for the data service."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis
from hypothesis import settings

from scripts.manifest.model import load as load_manifest
from tests.support.databases import pg_url_for, recreate_database
from tests.support.processes import REPO, ManagedProcess, stop_all
from tradeopt_common.asyncutil import run_sync

TEST_DB = os.environ.get("TRADEOPT_TEST_DB", "tradeopt_test")
REDIS_URL = os.environ.get("TRADEOPT_TEST_REDIS", "redis://127.0.0.1:6379/15")
API_KEY = "test-bootstrap-key-0123456789abcdef"

# Property tests (and schemathesis) are seeded like everything else: the default profile draws
# the same examples on every run, so `make test` cannot pass once and fail the next time.
# `HYPOTHESIS_PROFILE=explore make test` draws fresh random examples to hunt for new failures.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The migrated test database (migrations, not create_all)."""
    from tradeopt_common.db.migrations import upgrade

    run_sync(recreate_database(TEST_DB))
    url = pg_url_for(TEST_DB)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real S3-compatible server for the session."""
    from tests.support.s3server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url() -> str:
    """Redis db reserved for tests, emptied before each test."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def clean_db(pg_url: str) -> str:
    """Empty every table (except migration versions) before the test."""

    async def _truncate() -> None:
        conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await conn.fetch(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY($1) "
                "AND tablename NOT LIKE 'alembic_version%'",
                ["core", *(s.name for s in load_manifest().services)],
            )
            if rows:
                names = ", ".join(f'"{r["schemaname"]}"."{r["tablename"]}"' for r in rows)
                await conn.execute(f"TRUNCATE {names} CASCADE")
        finally:
            await conn.close()

    run_sync(_truncate())
    return pg_url


@pytest.fixture
def fleet_env(
    clean_db: str, redis_url: str, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment of a fleet under test; also applied to this process."""
    env = {
        "TRADING_OPT_ENV": "test",
        "TRADING_OPT_DB_URI": clean_db,
        "TRADING_OPT_REDIS_URI": redis_url,
        "TRADING_OPT_STORAGE_ENDPOINT": s3_server.endpoint,
        "TRADING_OPT_STORAGE_ACCESS_KEY": s3_server.access_key,
        "TRADING_OPT_STORAGE_SECRET_KEY": s3_server.secret_key,
        "TRADING_OPT_STORAGE_BUCKET": f"tradeopt-test-{uuid.uuid4().hex[:8]}",
        "TRADING_OPT_API_KEY": API_KEY,
        "TRADING_OPT_DATA_DIR": str(tmp_path / "data"),
        "TRADING_OPT_LOG_LEVEL": "INFO",
        "TRADING_OPT_JOB_HEARTBEAT_SECONDS": "0.5",
        "TRADING_OPT_JOB_STALE_AFTER_SECONDS": "3",
        "TRADING_OPT_JOB_REQUEUE_AFTER_SECONDS": "2",
        "TRADING_OPT_REAPER_INTERVAL_SECONDS": "1",
        "TRADING_OPT_JOB_MAX_ATTEMPTS": "3",
        "TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _clear_settings_caches()
    yield env
    _clear_settings_caches()
    from tradeopt_common.jobs.runtime import reset_runtime

    reset_runtime()


def _clear_settings_caches() -> None:
    from tradeopt_common.config import get_settings
    from tradeopt_data.config import get_data_settings
    from tradeopt_evaluation.config import get_evaluation_settings
    from tradeopt_training.config import get_training_settings
    from tradeopt_tuning.config import get_tuning_settings

    get_settings.cache_clear()
    get_tuning_settings.cache_clear()
    get_data_settings.cache_clear()
    get_training_settings.cache_clear()
    get_evaluation_settings.cache_clear()


@asynccontextmanager
async def _running_app(module: str) -> AsyncIterator[object]:
    """``<module>.create_app()`` with its lifespan running."""
    app = importlib.import_module(module).create_app()
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def _admin_client(
    app: object, host: str, *, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client authenticated with the bootstrap admin key
    (``raise_app_exceptions=False``: an unhandled error is the 500 a real client gets)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions),
        base_url=f"http://{host}",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as c:
        yield c


@pytest.fixture
async def data_app(fleet_env: dict[str, str]) -> AsyncIterator[object]:
    """The data service app with its lifespan running."""
    async with _running_app("tradeopt_data.app") as app:
        yield app


@pytest.fixture
async def client(data_app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated (bootstrap admin) client for the in-process data service."""
    async with _admin_client(data_app, "data.test") as c:
        yield c


@pytest.fixture
async def training_app(fleet_env: dict[str, str]) -> AsyncIterator[object]:
    """The training service app with its lifespan running."""
    async with _running_app("tradeopt_training.app") as app:
        yield app


@pytest.fixture
async def training_client(training_app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated (bootstrap admin) client for the in-process training service."""
    async with _admin_client(training_app, "training.test") as c:
        yield c


@pytest.fixture
async def tuning_app(fleet_env: dict[str, str]) -> AsyncIterator[object]:
    """The tuning service app with its lifespan running."""
    async with _running_app("tradeopt_tuning.app") as app:
        yield app


@pytest.fixture
async def tuning_client(tuning_app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated (bootstrap admin) client for the in-process tuning service."""
    async with _admin_client(tuning_app, "tuning.test") as c:
        yield c


@pytest.fixture
async def evaluation_app(fleet_env: dict[str, str]) -> AsyncIterator[object]:
    """The evaluation service app with its lifespan running."""
    async with _running_app("tradeopt_evaluation.app") as app:
        yield app


@pytest.fixture
async def evaluation_client(evaluation_app) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated (bootstrap admin) client for the in-process evaluation service."""
    async with _admin_client(evaluation_app, "evaluation.test") as c:
        yield c


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def processes(
    fleet_env: dict[str, str], log_dir: Path
) -> Iterator[Callable[[ManagedProcess], ManagedProcess]]:
    """``processes(proc)`` starts a managed process (a worker, beat, …) of the fleet under test
    and returns it; every process started is stopped after the test (all signalled at once, the
    last first, so that their shutdowns overlap)."""
    started: list[ManagedProcess] = []

    def start(proc: ManagedProcess) -> ManagedProcess:
        started.append(proc.start())
        return proc

    yield start
    stop_all(list(reversed(started)))


__all__ = ["API_KEY", "REPO"]
