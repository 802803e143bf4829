"""Fixtures for the tradeopt_common tests: a real S3 server, a per-session bucket, and the job
tables on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.s3server import S3Server
from tradeopt_common.db.migrations import upgrade
from tradeopt_common.db.session import Database


@pytest.fixture(scope="session")
def storage_s3_server(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    """The session's real S3 server (SeaweedFS).

    Reuses the root ``s3_server`` fixture when the root conftest provides one, else starts its
    own; either way the server is stopped at the end of the session.
    """
    try:
        server = request.getfixturevalue("s3_server")
    except pytest.FixtureLookupError:
        server = None
    if server is not None:
        yield server
        return
    own = S3Server()
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture(scope="session")
def storage_bucket() -> str:
    """A bucket name unique to this test session."""
    return f"tradeopt-contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["postgresql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The migrated job tables on the test PostgreSQL database and on a fresh SQLite file (the
    embedded mode runs the same job code).
    """
    if request.param == "postgresql":
        url = request.getfixturevalue("clean_db")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        upgrade(url)
    database = Database(url)
    yield database
    await database.dispose()


@pytest.fixture
async def pg_db(clean_db: str) -> AsyncIterator[Database]:
    """The migrated job tables on the test PostgreSQL database only (behaviour that exists only
    there, such as reading the database server's clock)."""
    database = Database(clean_db)
    yield database
    await database.dispose()
