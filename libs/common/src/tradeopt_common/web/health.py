"""``/healthz`` (the process is alive) and ``/readyz`` (database, Redis and storage answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

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


@router.get("/readyz", summary="Readiness: database, Redis and storage")
async def readyz(request: Request) -> JSONResponse:
    """200 when every dependency answers, 503 (with which one failed) otherwise."""
    state = request.app.state.tradeopt
    results = dict(
        await asyncio.gather(
            _check("database", state.db.ping),
            _check("redis", state.redis.ping),
            _check("storage", lambda: asyncio.to_thread(state.store.ping)),
        )
    )
    ready = all(r["ok"] for r in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )
