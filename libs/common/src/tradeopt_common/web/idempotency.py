"""``Idempotency-Key`` for creating POSTs: a retry with the same key returns the first response.

The record is inserted at the start of the request, in the request's own transaction, so a
concurrent duplicate blocks on the unique key and then replays the committed result; a key reused
with a different request is a 422; a key whose first request is still running is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Index, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, JSONType, utcnow
from tradeopt_common.errors import IdempotencyConflict, ValidationFailed
from tradeopt_common.web.problems import problem_responses

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)


class IdempotencyRecord(IdMixin, Base):
    """The first response to a keyed request (table ``core.idempotency_record``)."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        Index("uq_idempotency_record_principal_key", "principal", "key", unique=True),
        {"schema": "core"},
    )

    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    body: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Idempotency:
    """Per-request helper. ``await begin()`` returns a replayed response or ``None``; after the
    work, ``await respond(...)`` builds the response and stores it with the same commit.
    """

    def __init__(self, request: Request, session: AsyncSession, principal_id: str) -> None:
        raw = request.headers.get(HEADER)
        self.session, self.principal, self.request = session, principal_id, request
        self.key = raw.strip() if raw else None
        self.record: IdempotencyRecord | None = None
        if self.key is not None and not (1 <= len(self.key) <= 255 and self.key.isprintable()):
            raise ValidationFailed(
                f"{HEADER} must be 1 to 255 printable characters",
                errors=[{"loc": ["header", HEADER], "msg": "invalid idempotency key"}],
            )

    async def _hash(self, content_digest: str | None = None) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self.request.method} {self.request.url.path}\n".encode())
        if content_digest is not None:
            digest.update(content_digest.encode())
        else:
            digest.update(await self.request.body())
        return digest.hexdigest()

    async def _existing(self) -> IdempotencyRecord | None:
        stmt = select(IdempotencyRecord).where(
            IdempotencyRecord.principal == self.principal, IdempotencyRecord.key == self.key
        )
        return (
            await self.session.execute(stmt.execution_options(populate_existing=True))
        ).scalar_one_or_none()

    def _replay(self, record: IdempotencyRecord, request_hash: str) -> JSONResponse:
        if record.request_hash != request_hash:
            raise ValidationFailed(
                f"{HEADER} {self.key!r} was already used with a different request",
                errors=[{"loc": ["header", HEADER], "msg": "key reused with another request"}],
            )
        if record.status_code is None:
            raise IdempotencyConflict(f"a request with {HEADER} {self.key!r} is still in progress")
        headers = {**(record.headers or {}), "Idempotent-Replayed": "true"}
        return JSONResponse(
            json.loads(record.body or "null"), status_code=record.status_code, headers=headers
        )

    async def begin(self, content_digest: str | None = None) -> JSONResponse | None:
        """Replay the stored response for this key, or reserve the key and return ``None``.

        ``content_digest`` stands in for the raw body when the route has already consumed it
        (a streamed multipart upload hashes its fields and file as it reads them).
        """
        if self.key is None:
            return None
        request_hash = await self._hash(content_digest)
        existing = await self._existing()
        if existing is not None:
            return self._replay(existing, request_hash)
        record = IdempotencyRecord(
            principal=self.principal, key=self.key, request_hash=request_hash
        )
        try:
            async with self.session.begin_nested():
                self.session.add(record)
                await self.session.flush()
        except IntegrityError:
            existing = await self._existing()
            if existing is None:
                raise IdempotencyConflict(f"{HEADER} {self.key!r} is in use; retry") from None
            return self._replay(existing, request_hash)
        self.record = record
        return None

    async def respond(
        self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """The response; stored against the key when there is one."""
        body = jsonable_encoder(content)
        if self.record is not None:
            self.record.status_code = status_code
            self.record.body = json.dumps(body)
            self.record.headers = headers or {}
            await self.session.flush()
        return JSONResponse(body, status_code=status_code, headers=headers)

    async def accept(
        self, create: Callable[[], Awaitable[Any]], read: type[BaseModel], collection: str
    ) -> JSONResponse:
        """What a create route of a job-backed resource does: replay a retry; otherwise
        ``create()`` the resource (and its job) and answer 202 with it as ``read`` and a
        ``Location`` under ``collection`` (e.g. ``/api/v1/runs``). While the broker is down a
        new request is a 503 with ``Retry-After`` and stores nothing (a replay still answers) —
        but only once ``create()`` accepted it: a request the client must fix (an unknown
        dataset, a range the data cannot support) gets its 4xx either way. ``create()`` only adds
        rows and queues the job after commit, so the 503 rolls everything back.
        """
        if (replayed := await self.begin()) is not None:
            return replayed
        resource = await create()
        await self.request.app.state.tradeopt.broker.require()
        return await self.respond(
            read.model_validate(resource),
            status_code=202,
            headers={"Location": f"{collection}/{resource.id}"},
        )


def transition_route(read: type[BaseModel]) -> dict[str, Any]:
    """What a ``POST /{id}/<action>`` route that moves a job-backed resource (cancel, resume)
    declares: its 202 with ``read``; 404 for an unknown resource, 409 for one in the wrong state.
    """
    return {
        "status_code": 202,
        "response_model": read,
        "responses": problem_responses(401, 403, 404, 409, 422),
    }


def accepted_route(read: type[BaseModel]) -> dict[str, Any]:
    """What a route answered by :meth:`Idempotency.accept` declares: its 202 with ``read`` and
    the problems of a create (``@router.post("", **accepted_route(RunRead))``).
    """
    return {
        "status_code": 202,
        "response_model": read,
        "responses": problem_responses(400, 401, 403, 409, 413, 422),
    }


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete records older than the retention window."""
    cutoff = (now or utcnow()) - RETENTION
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)  # a DML result (CursorResult) has it
