"""The error model: an ``AppError`` tree rendered as RFC 9457 ``application/problem+json``.

Domain code raises these; one handler (``tradeopt_common.web.problems``) renders them. Each error
carries its HTTP status, a stable ``type`` URI suffix and a human ``title``.
"""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE_BASE = "https://tradeopt.dev/problems/"


class AppError(Exception):
    """Base of every error a client may see. Subclasses set ``status``, ``code`` and ``title``."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    @property
    def type_uri(self) -> str:
        """The RFC 9457 ``type`` member."""
        return PROBLEM_TYPE_BASE + self.code

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document for this error."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(AppError):
    """The request cannot be understood (e.g. malformed JSON)."""

    status, code, title = 400, "bad-request", "Bad request"


class MalformedJSON(BadRequest):
    """The body is not valid JSON."""

    code, title = "malformed-json", "Malformed JSON body"


class Unauthorized(AppError):
    """No or an invalid API key."""

    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="tradeopt"'})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    """The key lacks the scope the operation needs."""

    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    """An unknown id or path."""

    status, code, title = 404, "not-found", "Not found"


class MethodNotAllowed(AppError):
    """The path exists but not with this method."""

    status, code, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(AppError):
    """The resource's state does not allow the operation (e.g. cancelling a finished job)."""

    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    """The body exceeds the configured limit."""

    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    """The body's media type is not accepted here."""

    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    """The request is well-formed but its content is invalid; ``errors`` lists the fields."""

    status, code, title = 422, "validation-failed", "Validation failed"


class RateLimited(AppError):
    """Too many requests."""

    status, code, title = 429, "rate-limited", "Too many requests"


class ServiceUnavailable(AppError):
    """A dependency (database, broker, storage) is unreachable."""

    status, code, title = 503, "service-unavailable", "Service unavailable"


class JobNotFound(NotFound):
    """No job with that id."""

    code, title = "job-not-found", "Job not found"


class JobStateConflict(Conflict):
    """The job's status does not allow the operation."""

    code, title = "job-state-conflict", "Job state conflict"


class IdempotencyConflict(Conflict):
    """An ``Idempotency-Key`` was reused with a different request, or is still in flight."""

    code, title = "idempotency-conflict", "Idempotency key conflict"
