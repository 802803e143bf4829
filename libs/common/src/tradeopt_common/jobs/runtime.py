"""Per-process runtime for job code running outside the API: one asyncio loop in a background
thread (so sync code such as SB3 callbacks and the heartbeat thread can both run coroutines on it),
with the database engine, Redis client and artifact store created lazily inside that loop.

Celery has no native ``async def`` tasks and a pooled asyncpg engine cannot move between loops;
this is the one place that bridges them (STYLE §3.6). The runtime is re-created after ``fork``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable
from concurrent.futures import Future
from functools import cached_property
from typing import TypeVar

import redis

from tradeopt_common.config import CommonSettings, get_settings
from tradeopt_common.db.session import Database
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.configured import store_from_settings

T = TypeVar("T")


class JobRuntime:
    """Collaborators for job code, bound to one process and one event loop."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="tradeopt-job-loop", daemon=True
        )
        self._thread.start()
        self.db: Database = self.run(self._make_db())

    async def _make_db(self) -> Database:
        return Database(self.settings.db_uri)

    def run(self, coro: Awaitable[T], timeout: float | None = 120.0) -> T:
        """Run a coroutine on the runtime loop from any other thread and wait for its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("JobRuntime.run called from its own loop thread")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    @cached_property
    def store(self) -> ArtifactStore:
        """The artifact store (sync client)."""
        return store_from_settings(self.settings)

    @cached_property
    def redis(self) -> redis.Redis:
        """A sync Redis client for progress events."""
        return redis.Redis.from_url(self.settings.redis_uri, socket_timeout=5)

    def close(self) -> None:
        """Dispose of the engine and stop the loop."""
        try:
            self.run(self.db.dispose(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


_runtime: JobRuntime | None = None
_lock = threading.Lock()


def get_runtime(settings: CommonSettings | None = None) -> JobRuntime:
    """The runtime of this process, created on first use (and again in a forked child)."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = JobRuntime(settings or get_settings())
        return _runtime


def reset_runtime() -> None:
    """Forget the runtime (after fork, or in tests)."""
    global _runtime
    with _lock:
        _runtime = None
