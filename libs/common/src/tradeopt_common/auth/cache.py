"""Authenticating requests without a database round trip per request.

* :class:`PrincipalCache` remembers the principal of a verified key in-process, by the key's
  SHA-256, for ``TRADING_OPT_AUTH_CACHE_SECONDS`` (default 10 s). It is only trusted while the
  process listens to the revocation channel: :func:`revoke_key` (HTTP or CLI, any process)
  publishes on Redis after its commit and every listening process clears its cache at once; the
  revoking process clears its own before that. While Redis is unreachable the cache is bypassed
  (every request looks the key up). A process that silently missed a message keeps accepting a
  revoked key for at most the TTL. A lookup that started before an invalidation is never cached
  (generation counter), so a revocation cannot be undone by a request in flight.
* :class:`LastUsedRecorder` records ``last_used_at`` outside the request's transaction: a
  throttled (once per key per 5 minutes and process), separate, fire-and-forget write, so no
  request holds the key's row lock and requests with the same key never wait on each other.
* :class:`Authenticator` puts both together for the ``get_principal`` dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
import uuid
import weakref
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from tradeopt_common.auth.keys import (
    BOOTSTRAP_ID,
    LAST_USED_RESOLUTION,
    SERVICE_ID,
    Principal,
    Scope,
    hash_key,
    record_last_used,
    service_key_for,
    verify_key,
)
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.logging import get_logger

log = get_logger(__name__)

#: Redis pub/sub channel announcing that a key was revoked (payload: the key id).
REVOKED_CHANNEL = "tradeopt:auth:revoked"
MAX_ENTRIES = 10_000
BOOTSTRAP_PRINCIPAL = Principal(BOOTSTRAP_ID, "bootstrap", frozenset({Scope.ADMIN}))
SERVICE_PRINCIPAL = Principal(SERVICE_ID, "service", frozenset({Scope.WRITE}))

_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


class PrincipalCache:
    """Principals of verified keys by key hash, for ``ttl`` seconds, while ``live``."""

    def __init__(self, ttl: float) -> None:
        """Args:
        ttl: seconds an entry is trusted; 0 disables the cache.
        """
        self.ttl = ttl
        self.live = False  # set by the revocation listener while it is subscribed
        self.generation = 0
        self._entries: dict[str, tuple[Principal, float]] = {}
        _CACHES.add(self)

    def get(self, key_hash: str) -> Principal | None:
        """The cached principal, or ``None`` (unknown, expired, or the cache is not live)."""
        if not self.live:
            return None
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal, generation: int) -> None:
        """Remember ``principal`` unless the cache was invalidated since ``generation`` was read
        (the lookup may predate a revocation) or is not live.
        """
        if not self.live or self.ttl <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic() + self.ttl)

    def invalidate(self) -> None:
        """Forget everything (revocations are rare; a full clear is simplest and safe)."""
        self.generation += 1
        self._entries.clear()


def invalidate_local_caches() -> None:
    """Clear every principal cache of this process (after a revocation committed here)."""
    for cache in list(_CACHES):
        cache.invalidate()


async def announce_revocation(redis_uri: str, key_id: str) -> None:
    """Tell every process (``REVOKED_CHANNEL``) to drop its cached principals; best effort."""
    client = aioredis.Redis.from_url(redis_uri, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.publish(REVOKED_CHANNEL, key_id)
    except Exception as exc:
        log.warning(
            "auth.revocation_not_announced",
            error=str(exc),
            detail="other processes stop accepting the key within TRADING_OPT_AUTH_CACHE_SECONDS",
        )
    finally:
        await client.aclose()


async def listen_for_revocations(
    redis: aioredis.Redis, cache: PrincipalCache, *, retry_seconds: float = 1.0
) -> None:
    """Keep ``cache`` live while subscribed to ``REVOKED_CHANNEL``; clear it on every message
    and whenever the subscription is (re-)established (messages may have been missed).
    Runs for the app's lifetime.
    """
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(REVOKED_CHANNEL)
            cache.invalidate()
            cache.live = True
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    cache.invalidate()
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py may swallow the CancelledError inside get_message.
                    raise asyncio.CancelledError
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if cache.live:
                log.warning("auth.revocation_listener_lost", error=str(exc))
            cache.live = False
            cache.invalidate()
            await asyncio.sleep(retry_seconds)
        finally:
            cache.live = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()


class LastUsedRecorder:
    """Writes ``api_key.last_used_at`` in its own short transaction, off the request path."""

    def __init__(self, db: Database, resolution: timedelta = LAST_USED_RESOLUTION) -> None:
        """Args:
        db: the app's database.
        resolution: at most one write per key and process in this interval.
        """
        self.db = db
        self.resolution = resolution
        self._known: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, key_id: str, stored: datetime | None = None) -> None:
        """A request used ``key_id`` (``stored``: its ``last_used_at`` as read, if read);
        schedules a write when the recorded value is older than the resolution.
        """
        now = utcnow()
        known = self._known.get(key_id)
        if stored is not None and (known is None or stored > known):
            known = stored
        if known is not None and now - known < self.resolution:
            self._known[key_id] = known
            return
        self._known[key_id] = now  # throttle before the write lands
        task = asyncio.get_running_loop().create_task(self._write(key_id, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: str, now: datetime) -> None:
        try:
            async with self.db.unit_of_work() as session:
                await record_last_used(session, uuid.UUID(key_id), now, self.resolution)
        except Exception as exc:
            self._known.pop(key_id, None)  # try again on a later request
            log.warning("auth.last_used_not_recorded", key_id=key_id, error=str(exc))

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for pending writes, e.g. before the engine is disposed."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


class Authenticator:
    """Key -> principal for requests: bootstrap key, cache, else one indexed lookup."""

    def __init__(self, db: Database, bootstrap_key: str | None, cache_seconds: float) -> None:
        """Args:
        db: the app's database (lookups use their own short unit of work).
        bootstrap_key: ``TRADING_OPT_API_KEY`` (admin), if set; the internal service key
            (write) is derived from it (:func:`~tradeopt_common.auth.keys.service_key_for`).
        cache_seconds: TTL of the principal cache (0: no cache).
        """
        self.db = db
        self._bootstrap_hash = hash_key(bootstrap_key) if bootstrap_key else None
        self._service_hash = hash_key(service_key_for(bootstrap_key)) if bootstrap_key else None
        self.cache = PrincipalCache(cache_seconds)
        self.last_used = LastUsedRecorder(db)

    @property
    def bootstrap_hash(self) -> str | None:
        """SHA-256 of the bootstrap key, if one is configured."""
        return self._bootstrap_hash

    async def session_principal(self, token: str) -> Principal | None:
        """The principal of a session cookie's token, or ``None`` (unknown, expired, logged out,
        or its key revoked or rotated). Cached like keys (by ``session:`` + the token's hash), so
        a revocation or a logout, which clear every cache, take effect at once.
        """
        from tradeopt_common.auth.sessions import session_principal

        digest = "session:" + hash_key(token)
        cached = self.cache.get(digest)
        if cached is not None:
            if cached.id != BOOTSTRAP_ID:
                self.last_used.seen(cached.id)
            return cached
        generation = self.cache.generation
        async with self.db.read_only() as session:
            found = await session_principal(session, token, self._bootstrap_hash)
        if found is None:
            return None
        principal, last_used = found
        self.cache.put(digest, principal, generation)
        if principal.id != BOOTSTRAP_ID:
            self.last_used.seen(principal.id, last_used)
        return principal

    async def principal(self, key: str) -> Principal | None:
        """The principal of a presented key, or ``None`` (unknown, wrong or revoked)."""
        digest = hash_key(key)
        if self._bootstrap_hash is not None and hmac.compare_digest(digest, self._bootstrap_hash):
            return BOOTSTRAP_PRINCIPAL
        if self._service_hash is not None and hmac.compare_digest(digest, self._service_hash):
            return SERVICE_PRINCIPAL
        cached = self.cache.get(digest)
        if cached is not None:
            self.last_used.seen(cached.id)
            return cached
        generation = self.cache.generation
        async with self.db.read_only() as session:
            row = await verify_key(session, key, digest)
        if row is None:
            return None
        principal = Principal(str(row.id), row.name, frozenset(Scope(s) for s in row.scopes))
        self.cache.put(digest, principal, generation)
        self.last_used.seen(principal.id, row.last_used_at)
        return principal
