"""Pure ASGI middleware: request ids, the request-size limit, refusing NUL characters, and
refusing JSON bodies that are not plain RFC 8259 JSON (``NaN``, ``Infinity``, deep nesting).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradeopt_common.errors import BadRequest, MalformedJSON, PayloadTooLarge
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


#: Deepest nesting of arrays/objects a JSON body may have (request models nest a few levels).
MAX_JSON_DEPTH = 32
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _NotPlainJSON(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotPlainJSON(f"{name} is not a JSON value (RFC 8259); send a number or null")


def _too_deep(value: object, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def json_body_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``body`` is not acceptable plain JSON (``NaN``/``Infinity``, nesting deeper than
    ``max_depth``), or ``None`` — also for syntax errors, which the framework reports itself.
    """
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except _NotPlainJSON as exc:
        return str(exc)
    except RecursionError:
        return f"the JSON body nests deeper than {max_depth} levels"
    except ValueError:
        return None
    if _too_deep(value, max_depth):
        return f"the JSON body nests deeper than {max_depth} levels"
    return None


class PlainJSONMiddleware:
    """400 problem+json for a JSON request body holding ``NaN``/``Infinity`` (Python's parser
    accepts them, JSON does not, and they would flow into numbers or fail to render in a 422)
    or nesting deeper than :data:`MAX_JSON_DEPTH` (a ``RecursionError`` later). The body is
    buffered (the size limit applies first) and replayed unchanged to the app.
    """

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app, self.max_depth = app, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope.get("method") not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        media = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if not (media == b"application/json" or media.endswith(b"+json")):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app see it
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = json_body_problem(body, self.max_depth) if body else None
        if problem is not None:
            await problem_response(MalformedJSON(problem))(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
