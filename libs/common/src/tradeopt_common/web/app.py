"""``create_service_app``: the one way every tradeopt service builds its FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

from tradeopt_common.auth.cache import Authenticator, listen_for_revocations
from tradeopt_common.auth.key_routes import router as keys_router
from tradeopt_common.config import CommonSettings, get_settings
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.change_feed import ChangeListener
from tradeopt_common.db.session import Database, is_sqlite
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.dispatch import CeleryDispatcher
from tradeopt_common.jobs.routes import router as jobs_router
from tradeopt_common.logging import configure_logging, get_logger
from tradeopt_common.observability import metrics
from tradeopt_common.storage.configured import store_from_settings
from tradeopt_common.web import health
from tradeopt_common.web import status as system_status
from tradeopt_common.web.auth import router as auth_router
from tradeopt_common.web.middleware import (
    BodySizeLimitMiddleware,
    NulCharacterMiddleware,
    PlainJSONMiddleware,
    RequestIdMiddleware,
)
from tradeopt_common.web.problems import install_problem_handlers
from tradeopt_common.web.read_cache import ReadCache
from tradeopt_common.web.state import AppState

log = get_logger(__name__)

JOB_GAUGE_INTERVAL_SECONDS = 15.0


BackgroundTask = Callable[[AppState], Coroutine[Any, Any, None]]


def periodically(
    update: BackgroundTask, failed: str, interval: float = JOB_GAUGE_INTERVAL_SECONDS
) -> BackgroundTask:
    """A ``background`` task of :func:`create_service_app`: ``update(state)`` every ``interval``
    seconds for the app's lifetime (a failure is logged at debug level as ``failed`` and the next
    round tries again); e.g. gauges refreshed from the database.
    """

    async def refresh(state: AppState) -> None:
        while True:
            try:
                await update(state)
            except Exception as exc:
                log.debug(failed, error=str(exc))
            await asyncio.sleep(interval)

    return refresh


async def _update_job_gauges(state: AppState) -> None:
    """Set the queued/running/waiting gauges and the oldest-heartbeat age once."""
    async with state.db.unit_of_work() as session:
        counts = await jobs.count_by_status(session)
        oldest = await jobs.oldest_heartbeat(session)
    metrics.JOBS_QUEUED.clear()
    metrics.JOBS_RUNNING.clear()
    metrics.JOBS_WAITING.clear()
    gauges = {
        "queued": metrics.JOBS_QUEUED,
        "running": metrics.JOBS_RUNNING,
        "waiting": metrics.JOBS_WAITING,
    }
    for (kind, status), n in counts.items():
        gauges[status].labels(kind).set(n)
    age = (utcnow() - oldest).total_seconds() if oldest else 0.0
    metrics.JOB_HEARTBEAT_AGE.set(age)


_refresh_job_gauges = periodically(_update_job_gauges, "metrics.job_gauges_failed")


def create_service_app(
    service: str,
    *,
    routers: Sequence[APIRouter],
    settings: CommonSettings | None = None,
    version: str = "0.1.0",
    description: str = "",
    upload_limit_for: Callable[[str, str], int | None] | None = None,
    background: Sequence[BackgroundTask] = (),
) -> FastAPI:
    """A FastAPI app with lifespan-managed clients, problem+json errors, auth-ready deps,
    request ids, a body-size limit, ``/healthz``, ``/readyz``, ``/metrics``, ``/api/v1/jobs`` and
    ``/api/v1/system/status``.

    ``background`` coroutines (e.g. gauges refreshed from the database) run for the app's lifetime.
    """
    settings = settings or get_settings()
    configure_logging(
        settings.log_level,
        settings.log_json,
        log_file=settings.log_file,
        max_bytes=settings.log_file_max_bytes,
        backups=settings.log_file_backups,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.db_uri, ping_idle_seconds=settings.db_ping_idle_seconds)
        redis = aioredis.Redis.from_url(
            settings.redis_uri, socket_timeout=5, socket_connect_timeout=5
        )
        store = store_from_settings(settings)
        try:
            await asyncio.to_thread(store.ensure_ready)
        except Exception as exc:
            log.warning("storage.not_ready", error=str(exc))
        celery = make_celery(service, settings)
        state = AppState(
            service=service,
            settings=settings,
            db=db,
            redis=redis,
            store=store,
            celery=celery,
            dispatcher=CeleryDispatcher(celery),
            auth=Authenticator(
                db,
                settings.api_key.get_secret_value() if settings.api_key else None,
                settings.auth_cache_seconds,
            ),
            read_cache=ReadCache(settings.read_cache_seconds),
        )
        app.state.tradeopt = state
        tasks = [
            asyncio.create_task(_refresh_job_gauges(state)),
            asyncio.create_task(listen_for_revocations(redis, state.auth.cache)),
        ]
        if state.read_cache.ttl > 0 and not is_sqlite(settings.db_uri):
            feed = ChangeListener(
                settings.db_uri, state.read_cache.changed, state.read_cache.set_live
            )
            state.read_cache.barrier = feed.sync
            tasks.append(asyncio.create_task(feed.run()))
        tasks += [asyncio.create_task(task(state)) for task in background]
        log.info("service.started", service=service, env=settings.env.value)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.auth.last_used.drain()
            await redis.aclose()
            await db.dispose()
            log.info("service.stopped", service=service)

    app = FastAPI(
        title=f"tradeopt {service}",
        version=version,
        description=description,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs_router)
    app.include_router(system_status.router)
    app.include_router(keys_router)
    app.include_router(auth_router)
    for router in routers:
        app.include_router(router)
    Instrumentator(excluded_handlers=["/metrics", "/healthz", "/readyz"]).instrument(
        app, latency_lowr_buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
    ).expose(app, endpoint="/metrics", include_in_schema=False)
    app.add_middleware(PlainJSONMiddleware)  # inside the size limit: buffers bounded bodies
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes, limit_for=upload_limit_for
    )
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
