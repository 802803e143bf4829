"""Engines and the unit of work: one transaction per request or task, hooks after commit."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from tradeopt_common.db.base import SCHEMAS
from tradeopt_common.logging import get_logger

log = get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]
_AFTER_COMMIT_KEY = "tradeopt.after_commit"
_WROTE_KEY = "tradeopt.wrote"
_commits = 0


def commit_generation() -> int:
    """How many units of work that wrote this process has committed so far (any
    :class:`Database`; a unit of work wrote when it flushed ORM changes or executed an
    INSERT/UPDATE/DELETE through the session).

    Caches of read results (:class:`tradeopt_common.web.read_cache.ReadCache`) remember the
    value they were filled under and drop entries that predate a later commit in this process.
    """
    return _commits


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _: Any) -> None:
    session.info[_WROTE_KEY] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE_KEY] = True


def is_sqlite(url: str) -> bool:
    """Whether a SQLAlchemy URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_schema_map() -> dict[str, str | None]:
    """Schema names translated away on SQLite, which has no schemas."""
    return dict.fromkeys(SCHEMAS)


def create_engine(url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for PostgreSQL (asyncpg) or the embedded SQLite (aiosqlite).

    SQLite gets the schema names translated away, WAL mode, a busy timeout and foreign keys on,
    so the same models and migrations run on both. PostgreSQL connections are pinged before use
    only after ``ping_idle_seconds`` (keyword, default 5) idle in the pool (:func:`ping_when_idle`)
    unless ``pool_pre_ping=True`` asks for a ping on every checkout.
    """
    ping_idle = kwargs.pop("ping_idle_seconds", DEFAULT_PING_IDLE_SECONDS)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine.execution_options(schema_translate_map=sqlite_schema_map())
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, echo=echo, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, ping_idle)
    return engine


DEFAULT_PING_IDLE_SECONDS = 5.0
_CHECKED_IN_AT = "tradeopt.checked_in_at"


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle for ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout; under load connections
    are never idle, so this saves it where it matters, while a connection dropped during a quiet
    spell (PostgreSQL restarted, idle timeout) is still replaced before a request sees it. A
    connection that dies while busy fails its statement once; SQLAlchemy then invalidates every
    older pooled connection, and the request gets a 503 problem+json with ``Retry-After``.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        record.info.pop(_CHECKED_IN_AT, None)
        try:
            sync_engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the unit of work that owns ``session`` has committed.

    Used to enqueue jobs only after their rows are visible to workers. Dropped on rollback.
    """
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


class _ReadOnlySession(Session):
    """The sync session behind :meth:`Database.read_only`: refuses to flush changes."""

    def flush(self, objects: Any = None) -> None:
        """Refuse: autocommit would apply the statements one by one, outside any transaction."""
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("Database.read_only() sessions must not write")


class Database:
    """An engine and its session factory, created in a lifespan and disposed on shutdown."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL: statements of read-only work run in autocommit mode (no BEGIN / COMMIT
        # round trips); SQLite gains nothing from it and keeps the ordinary session.
        self._read_sessionmaker = (
            self.sessionmaker
            if is_sqlite(url)
            else async_sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
                sync_session_class=_ReadOnlySession,
            )
        )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on error.

        Services only ``flush``; this is the one place that commits. Callbacks registered with
        :func:`after_commit` run after a successful commit; their failures are logged, not raised
        (the committed state stands and the job reaper recovers an unsent job).
        """
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                session.info.pop(_AFTER_COMMIT_KEY, None)
                raise
            callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
            if session.info.pop(_WROTE_KEY, False):
                global _commits
                _commits += 1
        for callback in callbacks:
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("db.after_commit_failed", callback=getattr(callback, "__name__", "?"))

    @asynccontextmanager
    async def read_only(self) -> AsyncIterator[AsyncSession]:
        """A session for work that only reads (lists, gets, key lookups).

        On PostgreSQL each statement runs on its own in autocommit mode: one round trip per
        query instead of three (``BEGIN``, query, ``COMMIT``), and no snapshot spans two
        statements. Pending ORM changes are refused (``flush`` raises); never run writes here.
        """
        async with self._read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        """Raise if the database does not answer ``SELECT 1`` within 5 seconds."""
        from sqlalchemy import text

        async def _ping() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.wait_for(_ping(), timeout=5)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
