"""Change notifications from PostgreSQL: every committed write to a table of ours is announced on
one ``LISTEN``/``NOTIFY`` channel, whichever process made it (an API, a worker, a migration, a
``psql`` session).

* :func:`install_triggers` gives every table of a schema a statement-level trigger that calls
  ``pg_notify('tradeopt_changes', '<schema>.<table>')``. PostgreSQL delivers a notification only
  when (and if) the writing transaction commits, once per distinct payload per transaction. The
  migration runner calls it for each tree's schema after upgrading, so new tables get theirs on
  the next ``db upgrade`` (every service runs one at start-up).
* :class:`ChangeListener` keeps one dedicated connection that listens, calls ``on_change``
  for each notification and ``on_live(True|False)`` when listening starts or stops (connection
  lost, server restarted, ping unanswered). It reconnects with backoff. Whatever it feeds must
  treat "not live" as "changes may be missed" — :class:`~tradeopt_common.web.read_cache.ReadCache`
  serves nothing then. :meth:`ChangeListener.sync` is a barrier: it returns once every change
  committed before it was called has been handed to ``on_change`` (one coalesced round trip), so
  a reader that checks it first never serves an answer older than a commit it could have seen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from tradeopt_common.logging import get_logger

log = get_logger(__name__)

#: The channel every change is announced on.
CHANNEL = "tradeopt_changes"
#: Name of the trigger (on each table) and of its function (in each schema).
TRIGGER = "tradeopt_notify_change"
#: Seconds between pings of the listening connection (a dead peer is noticed within this + timeout).
PING_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 10.0
RECONNECT_MAX_SECONDS = 10.0


def install_triggers(
    connection: Connection, schema: str, skip: frozenset[str] = frozenset()
) -> int:
    """Give every table of ``schema`` (PostgreSQL) that lacks it the change trigger; tables named
    in ``skip`` (e.g. the migration version table) are left alone. Idempotent: creates only what
    is missing. Returns how many triggers were created.
    """
    function = f'"{schema}".{TRIGGER}'
    exists = connection.execute(
        text(
            "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :schema AND p.proname = :name"
        ),
        {"schema": schema, "name": TRIGGER},
    ).first()
    if exists is None:
        connection.execute(
            text(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME); "
                "RETURN NULL; END $$"
            )
        )
    missing = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND NOT EXISTS (SELECT 1 FROM pg_trigger t "
            "                WHERE t.tgrelid = c.oid AND t.tgname = :trigger) "
            "ORDER BY c.relname"
        ),
        {"schema": schema, "trigger": TRIGGER},
    ).scalars()
    created = 0
    for table in missing:
        if table in skip:
            continue
        connection.execute(
            text(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f'ON "{schema}"."{table}" FOR EACH STATEMENT EXECUTE FUNCTION {function}()'
            )
        )
        created += 1
    return created


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg from a SQLAlchemy URL (``postgresql+asyncpg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """Listens on :data:`CHANNEL` over one dedicated asyncpg connection until cancelled, and
    answers :meth:`sync`: "has every change committed before now been delivered?".
    """

    def __init__(
        self,
        db_url: str,
        on_change: Callable[[str], None],
        on_live: Callable[[bool], None],
        *,
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        """Args:
        db_url: the PostgreSQL URL (SQLAlchemy form accepted).
        on_change: called with the payload (``"<schema>.<table>"``) of each notification.
        on_live: called with ``True`` once listening, ``False`` when it stops.
        ping_seconds: how often an idle connection is checked.
        """
        self._dsn = asyncpg_dsn(db_url)
        self._on_change = on_change
        self._on_live = on_live
        self._ping_seconds = ping_seconds
        self._conn: Any = None
        self._waiting: asyncio.Future[bool] | None = None
        self._pinging = False
        self.live = False

    def _set_live(self, live: bool) -> None:
        if live != self.live:
            self.live = live
            self._on_live(live)
            log.info("change_feed.live" if live else "change_feed.lost", channel=CHANNEL)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_change(payload)

    async def sync(self) -> bool:
        """Wait until every change committed before this call has been delivered to
        ``on_change``; ``False`` when that cannot be known (not listening, the round trip failed).

        One round trip on the listening connection does it: PostgreSQL sends a listening session
        the notifications pending when it reads a command before it runs that command, and
        asyncpg calls the listeners before it resolves the command's result. Concurrent callers
        share a round trip that starts after each of them arrived (at most two round trips' wait).
        """
        if not self.live or self._conn is None:
            return False
        waiting = self._waiting
        if waiting is None:
            waiting = self._waiting = asyncio.get_running_loop().create_future()
            if not self._pinging:
                asyncio.get_running_loop().create_task(self._ping_batches())
        return await asyncio.shield(waiting)

    async def _ping_batches(self) -> None:
        """Send one ``SELECT 1`` per batch of :meth:`sync` callers, until none waits."""
        self._pinging = True
        try:
            while self._waiting is not None:
                batch, self._waiting = self._waiting, None
                ok = False
                conn = self._conn
                if conn is not None and self.live:
                    try:
                        await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT_SECONDS)
                        ok = self.live
                    except Exception as exc:
                        log.warning("change_feed.ping_failed", error=f"{type(exc).__name__}")
                        self._set_live(False)
                        conn.terminate()  # run() notices and reconnects
                if not batch.done():
                    batch.set_result(ok)
        finally:
            self._pinging = False

    async def run(self) -> None:
        """Listen, reconnecting with backoff, until the task is cancelled."""
        import asyncpg

        delay = 0.5
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=15)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, event=lost: event.set())
                await conn.add_listener(CHANNEL, self._notified)
                self._conn = conn
                self._set_live(True)
                delay = 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._ping_seconds)
                    if not lost.is_set() and not await self.sync():
                        break  # an idle connection is checked too
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change_feed.error", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._conn = None
                self._set_live(False)
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
