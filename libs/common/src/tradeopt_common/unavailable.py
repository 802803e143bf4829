"""Telling "a dependency is down" apart from a bug.

While PostgreSQL restarts, or Redis is unreachable, every request that needs them fails with a
driver exception (``ConnectionRefusedError`` from the connect, asyncpg's
``ConnectionDoesNotExistError``/``CannotConnectNowError``, SQLAlchemy's ``DBAPIError`` wrapping
them, ``redis.ConnectionError``). Those are not the client's fault and not a bug of ours: the
API answers ``503 Service Unavailable`` problem+json with ``Retry-After`` (DESIGN §3), and the
request can simply be retried; a 500 stays reserved for real defects.
"""

from __future__ import annotations

import asyncpg
import redis.exceptions
from sqlalchemy import exc as sa_exc

#: Seconds a client should wait before retrying after a 503 caused by a dependency outage.
RETRY_AFTER_SECONDS = 2

_ASYNCPG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,  # incl. ConnectionDoesNotExistError
    # "the database system is starting up", "terminating connection due to administrator
    # command", crash shutdown: SQLSTATE class 57P
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
_REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


#: The exception types an outage surfaces as (checked with :func:`dependency_unavailable`).
OUTAGE_ERROR_TYPES: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    *(t for t in _ASYNCPG_UNAVAILABLE if issubclass(t, Exception)),
    asyncpg.exceptions.InterfaceError,
    *(t for t in _REDIS_UNAVAILABLE if issubclass(t, Exception)),
    ConnectionError,
    TimeoutError,
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def dependency_unavailable(exc: BaseException) -> str | None:
    """``"database"``, ``"broker"`` (or ``"database, broker or storage"`` for a refused or reset
    connection) when ``exc`` (or an exception it was raised from) says that
    PostgreSQL or Redis cannot be reached right now; ``None`` for anything else.
    """
    for item in _chain(exc):
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return "database"
        if isinstance(item, _ASYNCPG_UNAVAILABLE):
            return "database"
        if isinstance(item, _REDIS_UNAVAILABLE):
            return "broker"
        if isinstance(item, sa_exc.DBAPIError) and isinstance(item.orig, _ASYNCPG_UNAVAILABLE):
            return "database"
        if isinstance(item, sa_exc.TimeoutError):  # the connection pool is exhausted
            return "database"
        if isinstance(item, ConnectionError | TimeoutError):  # refused/reset connect, timeouts
            return "database, broker or storage"
        if isinstance(item, asyncpg.exceptions.InterfaceError) and "closed" in str(item):
            return "database"  # "connection is closed" (its server went away)
    return None
