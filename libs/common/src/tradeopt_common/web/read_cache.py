"""A per-process cache of read answers (``GET`` lists and single resources), kept exact by
PostgreSQL's change feed (``TRADING_OPT_READ_CACHE_SECONDS``).

A dashboard or a polling client asks for the same page or resource many times a second; each
answer otherwise costs a pool checkout, a query, ORM loading and validation. Routes of a router
built with ``route_class=CachedReadRoute`` are answered from this cache when it is on:

* every request is still **authenticated and scope-checked first** (read scope; the answers of
  these routes do not depend on who asks, only on the URL);
* only ``200`` JSON answers up to :data:`MAX_BODY_BYTES` without headers of their own are kept
  (no streams, no errors, no CSV);
* an entry is served for at most ``ttl`` seconds after it was read, and only after the feed's
  barrier confirmed that every change committed before the request arrived has been delivered
  (one coalesced round trip on the listening connection): a client that saw a commit — a job
  finishing, its own write through another replica — never gets an answer older than it;
* a write **committed by this process** (:func:`~tradeopt_common.db.session.commit_generation`)
  and a **change notification** from PostgreSQL (:mod:`tradeopt_common.db.change_feed`: any
  committed write to a table of ours, by any process — a worker finishing a job, another API
  replica, ``psql``) drop every entry at once, and an answer whose query started before either is
  never stored;
* the cache serves only while the change feed is **live** (listening on PostgreSQL); with the
  feed lost (PostgreSQL restarting, connection dropped) or absent (SQLite, the demo) every
  request goes to the database;
* at most ``max_entries`` entries and ``max_bytes`` bytes (full: cleared, the simplest bounded
  policy).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tradeopt_common.auth.keys import Scope
from tradeopt_common.db.session import commit_generation

#: Entries kept per process at most.
MAX_ENTRIES = 1024
#: Bytes of bodies kept per process at most.
MAX_BYTES = 64 * 1024 * 1024
#: Larger answers are not kept.
MAX_BODY_BYTES = 1024 * 1024

#: Headers a kept answer may carry (it is replayed with only these; others are not cached).
_PLAIN_HEADERS = frozenset({b"content-length", b"content-type"})

Generation = tuple[int, int]
"""(commits of this process, changes notified) when a read started."""


class ReadCache:
    """Serialised response bodies by key, for ``ttl`` seconds, until anything changes."""

    def __init__(
        self,
        ttl: float,
        *,
        needs_feed: bool = True,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        """Args:
        ttl: seconds an entry is served (0: the cache is off).
        needs_feed: serve only while :meth:`set_live` says the change feed is listening (a
            cache without it would miss other processes' changes for up to ``ttl``).
        max_entries: entries kept at most.
        max_bytes: total body bytes kept at most.
        """
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.live = not needs_feed
        #: The change feed's barrier (:meth:`ChangeListener.sync`), set by the app that runs it.
        self.barrier: Callable[[], Awaitable[bool]] | None = None
        self._changes = 0
        self._bytes = 0
        self._entries: dict[Hashable, tuple[bytes, float, Generation]] = {}

    @property
    def enabled(self) -> bool:
        """Whether entries are kept and served now."""
        return self.ttl > 0 and self.live

    async def fresh(self) -> bool:
        """Whether answers may be served now: on, and every change committed before this call
        has been delivered (the feed's barrier), so no entry predates a commit the caller could
        have seen (e.g. a job it watched finish).
        """
        if not self.enabled:
            return False
        return True if self.barrier is None else await self.barrier()

    def generation(self) -> Generation:
        """Take before reading: :meth:`put` refuses an answer read before a later change."""
        return (commit_generation(), self._changes)

    def changed(self, _what: str = "") -> None:
        """A change was committed somewhere (a notification): forget everything."""
        self._changes += 1
        self.clear()

    def set_live(self, live: bool) -> None:
        """The change feed started (``True``) or stopped (``False``) listening; either way the
        entries may predate a missed change and go.
        """
        self.live = live
        self.changed()

    def get(self, key: Hashable) -> bytes | None:
        """The cached body, or ``None`` (off, unknown, older than ``ttl``, or read before a
        change).
        """
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        body, expires, generation = entry
        if expires <= time.monotonic() or generation != self.generation():
            self._drop(key)
            return None
        return body

    def put(self, key: Hashable, body: bytes, generation: Generation) -> None:
        """Remember ``body``, read under ``generation`` (taken before the query), unless
        something changed since or it is too large.
        """
        if not self.enabled or generation != self.generation() or len(body) > MAX_BODY_BYTES:
            return
        if len(self._entries) >= self.max_entries or self._bytes + len(body) > self.max_bytes:
            self.clear()
        self._drop(key)
        self._entries[key] = (body, time.monotonic() + self.ttl, generation)
        self._bytes += len(body)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0])

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._bytes = 0


EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


def uncached(endpoint: EndpointT) -> EndpointT:
    """Mark a ``GET`` endpoint of a cached router whose answer depends on something the change
    feed does not announce (e.g. an object-storage listing that grows while a job runs): it is
    never answered from the cache. Put it below the ``@router.get(...)`` decorator.
    """
    endpoint.__tradeopt_uncached__ = True  # type: ignore[attr-defined]
    return endpoint


def _needs_exactly_read_scope(dependant: Dependant) -> bool:
    """Whether the route's dependencies ask for the read scope and nothing stricter."""
    scopes: set[object] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        scope = getattr(current.call, "required_scope", None)
        if scope is not None:
            scopes.add(scope)
        stack.extend(current.dependencies)
    return scopes == {Scope.READ}


class CachedReadRoute(APIRoute):
    """A route whose ``GET`` answers go through the app's :class:`ReadCache`: the caller is
    authenticated and needs the read scope before anything is served from it; a miss runs the
    route as usual (dependencies, endpoint) and keeps a ``200`` JSON body.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler wrapped by the cache."""
        handler = super().get_route_handler()
        if getattr(self.endpoint, "__tradeopt_uncached__", False) or not _needs_exactly_read_scope(
            self.dependant
        ):
            return handler  # public or stricter than read: never answered from the cache
        name = self.name

        async def cached(request: Request) -> Response:
            state = getattr(request.app.state, "tradeopt", None)
            cache: ReadCache | None = getattr(state, "read_cache", None)
            if request.method != "GET" or cache is None or not cache.enabled:
                return await handler(request)
            from tradeopt_common.web.deps import authenticate  # (deps imports this module)

            await authenticate(request, Scope.READ)
            if not await cache.fresh():
                return await handler(request)
            key = (
                name,
                request.url.path,
                request.scope.get("query_string", b""),
                request.headers.get("accept", ""),
            )
            body = cache.get(key)
            if body is not None:
                return Response(body, media_type="application/json")
            generation = cache.generation()
            response = await handler(request)
            if (
                response.status_code == 200
                and response.media_type == "application/json"
                and isinstance(getattr(response, "body", None), bytes)
                and all(name in _PLAIN_HEADERS for name, _ in response.raw_headers)
            ):
                cache.put(key, bytes(response.body), generation)
            return response

        return cached
