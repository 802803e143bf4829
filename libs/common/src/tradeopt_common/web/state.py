"""Clients an app creates in its lifespan and keeps on ``app.state.tradeopt``."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from celery import Celery

from tradeopt_common.auth.cache import Authenticator
from tradeopt_common.config import CommonSettings
from tradeopt_common.db.session import Database
from tradeopt_common.jobs.dispatch import Dispatcher
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.web.read_cache import ReadCache


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
