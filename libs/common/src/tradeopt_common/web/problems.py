"""One renderer for every error: RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradeopt_common.errors import (
    AppError,
    BadRequest,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from tradeopt_common.logging import get_logger
from tradeopt_common.unavailable import (
    OUTAGE_ERROR_TYPES,
    RETRY_AFTER_SECONDS,
    dependency_unavailable,
)

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"

_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
}


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its text (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class ProblemResponse(JSONResponse):
    """A JSON response with the problem media type (non-finite floats rendered as text)."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        """JSON bytes; a ``NaN``/``Infinity`` echoed from the request never breaks the answer."""
        try:
            return super().render(content)
        except ValueError:
            return super().render(_finite(content))


_RESPONSE_NAMES = {
    400: "Malformed request",
    401: "No valid API key",
    403: "Missing scope",
    404: "Unknown id",
    409: "State conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` entries (problem+json) for the given statuses of a route."""
    return {c: {"content": {PROBLEM_JSON: {}}, "description": _RESPONSE_NAMES[c]} for c in codes}


def problem_response(error: AppError, request: Request | None = None) -> ProblemResponse:
    """Render an :class:`AppError`."""
    instance = request.url.path if request is not None else None
    return ProblemResponse(
        error.to_problem(instance), status_code=error.status, headers=error.headers or None
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        item: dict[str, Any] = {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        if "input" in err and isinstance(err["input"], str | int | float | bool | None):
            value = err["input"]
            # Echo short inputs only: a problem document must not mirror a huge request.
            item["input"] = (
                value[:200] + "…" if isinstance(value, str) and len(value) > 200 else value
            )
        out.append(item)
    return out


_WHOLE_BODY_TYPES = frozenset({"model_attributes_type", "dict_type", "model_type", "list_type"})


def _body_media_type(request: Request) -> str | None:
    """The request's media type when it is given and is not JSON, else ``None``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        return None
    return media


def _whole_body_refused(error: dict[str, Any]) -> bool:
    return error["loc"] == ["body"] and error["type"] in _WHOLE_BODY_TYPES


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> ProblemResponse:
        if exc.status >= 500:
            log.error("request.failed", error=exc.detail)
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                MalformedJSON("the request body is not valid JSON", errors=errors), request
            )
        media = _body_media_type(request)
        if media is not None and any(_whole_body_refused(e) for e in errors):
            # A JSON route given another media type sees raw bytes: say so (415), as the upload
            # route does, rather than "body: Input should be a valid dictionary".
            return problem_response(
                UnsupportedMediaType(
                    f"the request body must be application/json, not {media}", errors=errors
                ),
                request,
            )
        summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(ValidationFailed(summary, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        cls = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if cls is None:
            err = AppError(str(exc.detail), headers=dict(exc.headers or {}))
            err.status, err.title = exc.status_code, str(exc.detail)
        else:
            err = cls(str(exc.detail), headers=dict(exc.headers or {}))
        return problem_response(err, request)

    def _outage(request: Request, exc: Exception) -> ProblemResponse | None:
        dependency = dependency_unavailable(exc)
        if dependency is None:
            return None
        # an outage, not a bug: 503 + Retry-After, no traceback
        log.warning(
            "request.dependency_unavailable",
            path=request.url.path,
            dependency=dependency,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return problem_response(
            ServiceUnavailable(
                f"the {dependency} is unreachable right now; retry in a few seconds",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ),
            request,
        )

    async def _dependency_error(request: Request, exc: Exception) -> ProblemResponse:
        """Driver errors of PostgreSQL/Redis/sockets: answered here (no re-raise) when they mean
        an outage; anything else of these types is a crash for :func:`_unhandled`.
        """
        response = _outage(request, exc)
        if response is None:
            raise exc
        return response

    for error_type in OUTAGE_ERROR_TYPES:
        app.add_exception_handler(error_type, _dependency_error)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> ProblemResponse:
        response = _outage(request, exc)
        if response is not None:
            return response
        log.exception("request.crashed", path=request.url.path)
        return problem_response(AppError("an unexpected error occurred"), request)
