"""A short-lived, per-process cache of serialised list pages (``TRADING_OPT_READ_CACHE_SECONDS``).

A list page (``GET /api/v1/<resource>?limit=…&cursor=…&<filters>``) costs a database query,
ORM loading and validation of every row; the same page asked again within a second is the
common case for dashboards and polling clients. With the cache on (``ttl`` > 0; off by default):

* every request is still authenticated and scope-checked first (the route's dependencies run
  before the endpoint looks at the cache); a page's content does not depend on the caller;
* an entry is served for at most ``ttl`` seconds after it was read from the database, so a change
  committed by **another process** (a worker finishing a job, another API process or replica)
  shows within ``ttl`` seconds;
* a change committed by **this process** (any unit of work,
  :func:`~tradeopt_common.db.session.commit_generation`) drops every entry at once, and a page
  whose query started before such a commit is never stored;
* at most ``max_entries`` pages are kept (full: cleared, the simplest bounded policy).
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from tradeopt_common.db.session import commit_generation

#: Pages kept per process at most.
MAX_ENTRIES = 1024


class ReadCache:
    """Serialised response bodies by key, for ``ttl`` seconds, until this process commits."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        """Args:
        ttl: seconds an entry is served (0: the cache is off).
        max_entries: entries kept at most.
        """
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[bytes, float, int]] = {}

    @property
    def enabled(self) -> bool:
        """Whether entries are kept at all."""
        return self.ttl > 0

    def get(self, key: Hashable) -> bytes | None:
        """The cached body, or ``None`` (unknown, older than ``ttl``, or filled before a commit
        of this process).
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        body, expires, generation = entry
        if expires <= time.monotonic() or generation != commit_generation():
            self._entries.pop(key, None)
            return None
        return body

    def put(self, key: Hashable, body: bytes, generation: int) -> None:
        """Remember ``body``, read from the database under commit ``generation`` (taken before
        the query), unless this process committed since.
        """
        if not self.enabled or generation != commit_generation():
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (body, time.monotonic() + self.ttl, generation)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
