"""Repository base: statements and queries for one ORM class; services compose them."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ExecutableOption

from tradeopt_common.db.base import Base
from tradeopt_common.errors import AppError, NotFound, ValidationFailed
from tradeopt_ml.instants import as_utc

ModelT = TypeVar("ModelT", bound=Base)


@dataclass(frozen=True)
class Page(Generic[ModelT]):
    """One page of a newest-first list and the cursor of the next page (``None`` at the end)."""

    items: Sequence[ModelT]
    next_cursor: str | None
    #: Rows matching the filters over every page (only when asked: one more query).
    total: int | None = None


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    """An opaque cursor pointing just after the given row."""
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Inverse of :func:`encode_cursor`; a bad cursor is a 422, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, id_ = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return as_utc(datetime.fromisoformat(created)), uuid.UUID(id_)
    except Exception as exc:
        raise ValidationFailed(
            "invalid pagination cursor",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor returned by this API"}],
        ) from exc


class RepositoryBase(Generic[ModelT]):
    """Common queries for a model with ``id`` and ``created_at`` columns.

    A subclass names its ``model``, and for :meth:`get_or_raise` the ``noun`` of its rows in
    messages and the ``not_found`` error (a 404) raised for an unknown id.
    """

    model: ClassVar[type[Base]]
    noun: ClassVar[str] = "row"
    not_found: ClassVar[type[AppError]] = NotFound

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def select(self) -> Select[Any]:
        """The base statement every query of this repository starts from."""
        return select(self.model)

    async def get(self, id_: uuid.UUID, *, for_update: bool = False) -> ModelT | None:
        """The row with this id, or ``None``."""
        stmt = self.select().where(self.model.id == id_)  # type: ignore[attr-defined]
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_or_raise(self, id_: uuid.UUID, *, for_update: bool = False) -> ModelT:
        """The row with this id, or :attr:`not_found` (``"<noun> <id> does not exist"``)."""
        row = await self.get(id_, for_update=for_update)
        if row is None:
            raise self.not_found(f"{self.noun} {id_} does not exist")
        return row

    async def add(self, obj: ModelT) -> ModelT:
        """Insert and flush (never commit: the unit of work does)."""
        self.session.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: ModelT) -> None:
        """Delete and flush."""
        await self.session.delete(obj)
        await self.session.flush()

    async def page(
        self,
        *,
        limit: int,
        cursor: str | None,
        options: Sequence[ExecutableOption] = (),
        count: bool = False,
        **equal_to: object,
    ) -> Page[ModelT]:
        """Newest first (see :meth:`paginate`), the rows whose columns equal every given value
        that is not ``None`` (``page(limit=50, cursor=None, status="queued", dataset_id=None)``
        filters on the status alone); ``options`` are loader options such as ``defer(column)``;
        ``count`` also counts every matching row (``Page.total``).
        """
        model: Any = self.model
        where = [getattr(model, col) == v for col, v in equal_to.items() if v is not None]
        stmt = self.select().where(*where).options(*options)
        return await self.paginate(stmt, limit=limit, cursor=cursor, count=count)

    async def paginate(
        self, stmt: Select[Any], *, limit: int, cursor: str | None, count: bool = False
    ) -> Page[ModelT]:
        """Newest first by ``(created_at, id)``; keyset pagination, stable under inserts.
        ``count``: also the number of rows ``stmt`` matches over every page (``Page.total``).
        """
        model: Any = self.model
        total = None
        if count:
            counted = select(func.count()).select_from(stmt.order_by(None).subquery())
            total = int((await self.session.execute(counted)).scalar_one())
        if cursor:
            created, id_ = decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    model.created_at < created,
                    and_(model.created_at == created, model.id < id_),
                )
            )
        stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
        rows = list((await self.session.execute(stmt)).scalars().all())
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
        return Page(items=rows, next_cursor=next_cursor, total=total)
