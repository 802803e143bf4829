"""Pure ASGI middleware: request ids, the request-size limit, and refusing NUL characters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradeopt_common.errors import BadRequest, PayloadTooLarge
from tradeopt_common.logging import bind_context, clear_context
from tradeopt_common.web.problems import problem_response

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), binds it to the log context, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        clear_context()
        bind_context(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            clear_context()


class NulCharacterMiddleware:
    """400 for a path or query string carrying a NUL character (``%00``): no database text type
    can hold one, so it could only fail later as a server error.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            raw = scope.get("query_string", b"") or b""
            if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(raw):
                error = BadRequest("the URL must not contain NUL characters (%00)")
                await problem_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised from ``receive``; FastAPI re-raises HTTP exceptions from body parsing as they are,
    so the problem handler renders it as 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class BodySizeLimitMiddleware:
    """Refuses bodies over a limit with 413 problem+json, by ``Content-Length`` up front and by
    counting streamed bytes (chunked uploads). ``limit_for(path, media_type)`` may raise the limit
    for some requests (e.g. multipart uploads to one path).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        limit_for: Callable[[str, str], int | None] | None = None,
    ) -> None:
        self.app, self.max_bytes, self.limit_for = app, max_bytes, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        limit = (self.limit_for(scope["path"], media) if self.limit_for else None) or self.max_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(scope, receive, send, limit)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        await problem_response(error)(scope, receive, send)
