"""Fixtures for the tradeopt_common tests: a real S3 server and a per-session bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.s3server import S3Server


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
