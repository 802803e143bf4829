"""Clients an app creates in its lifespan and keeps on ``app.state.tradeopt``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from celery import Celery

from tradeopt_common.auth.cache import Authenticator
from tradeopt_common.config import CommonSettings
from tradeopt_common.db.session import Database
from tradeopt_common.errors import ServiceUnavailable
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.web.read_cache import ReadCache


class BrokerProbe:
    """Whether Redis, the job broker, answers — asked at most once per ``ttl`` seconds, so a
    create route can refuse work it could not queue (503 + ``Retry-After``) before storing
    anything, at no per-request cost.

    A refused or broken connection is an answer at once. A ``PING`` that times out is asked
    ``attempts`` times before Redis counts as down: the timeout runs on this process's event
    loop, which a pause of its own (a large garbage collection, a CPU-bound moment) can hold
    past it while Redis answered in time.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        ttl: float = 1.0,
        timeout: float = 1.0,
        attempts: int = 2,
    ) -> None:
        self.redis, self.ttl, self.timeout, self.attempts = redis, ttl, timeout, attempts
        self._checked_at = -float("inf")
        self._ok = True

    async def available(self) -> bool:
        """The (cached) answer: ``True`` when a ``PING`` succeeded within the last ``ttl``."""
        now = time.monotonic()
        if now - self._checked_at >= self.ttl:
            self._ok = await self._ping()
            self._checked_at = time.monotonic()
        return self._ok

    async def _ping(self) -> bool:
        for _ in range(self.attempts):
            try:
                await asyncio.wait_for(self.redis.ping(), timeout=self.timeout)
                return True
            except TimeoutError:
                continue  # slow, not refused: ask again
            except Exception:  # refused, reset, unknown host: not now
                return False
        return False

    async def require(self) -> None:
        """Raise :class:`ServiceUnavailable` (503, ``Retry-After``) while the broker is down."""
        from tradeopt_common.unavailable import RETRY_AFTER_SECONDS

        if not await self.available():
            raise ServiceUnavailable(
                "the broker (Redis) is unreachable right now, so no job can be queued; nothing "
                "was stored — retry in a few seconds",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )


@dataclass
class AppState:
    """Typed app state: settings, database, Redis, artifact store, job dispatcher, and the
    request authenticator (principal cache, ``last_used_at`` recorder), and the cache of list
    pages (``TRADING_OPT_READ_CACHE_SECONDS``; off by default).
    """

    service: str
    settings: CommonSettings
    db: Database
    redis: aioredis.Redis
    store: ArtifactStore
    celery: Celery
    dispatcher: Dispatcher
    auth: Authenticator
    read_cache: ReadCache = field(default_factory=lambda: ReadCache(0.0))
    broker: BrokerProbe = field(init=False)

    def __post_init__(self) -> None:
        self.broker = BrokerProbe(self.redis)
