"""``/healthz`` (the process is alive) and ``/readyz`` (the process can serve: its database
answers).

Readiness takes a pod out of the load balancer, so it names only what *every* request needs:
the database (keys, every resource). Redis (job queues, event streams) and object storage
(bars, artifacts) are reported but do not fail readiness: during a Redis blip reads keep
working and only job creation answers 503 with ``Retry-After``; taking every API pod out of
service for it would turn a partial outage into a full one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from tradeopt_common.web.state import AppState

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz(request: Request) -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok", "service": request.app.state.tradeopt.service}


async def _check(name: str, fn: Callable[[], Awaitable[Any]]) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(fn(), timeout=5)
        return name, {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:
        return name, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


#: Dependencies without which an API process cannot serve anything.
REQUIRED = ("database",)


@router.get("/readyz", summary="Readiness: the database (Redis and storage reported)")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers (``status`` ``ready``, or ``degraded`` naming Redis or
    storage when one of those does not); 503 when the database does not.
    """
    body = await readiness(request.app.state.tradeopt)
    return JSONResponse(body, status_code=503 if body["status"] == "not ready" else 200)


async def readiness(state: AppState) -> dict[str, Any]:
    """The ``/readyz`` body of this process: ``status`` (``ready``, ``degraded`` or
    ``not ready``), ``checks`` by dependency and the ``degraded`` ones.
    """
    results = dict(
        await asyncio.gather(
            _check("database", state.db.ping),
            _check("redis", state.redis.ping),
            _check("storage", lambda: asyncio.to_thread(state.store.ping)),
        )
    )
    ready = all(results[name]["ok"] for name in REQUIRED)
    degraded = sorted(name for name, r in results.items() if not r["ok"] and name not in REQUIRED)
    status = "not ready" if not ready else ("degraded" if degraded else "ready")
    body: dict[str, Any] = {"status": status, "checks": results}
    if degraded:
        body["degraded"] = degraded
    return body
