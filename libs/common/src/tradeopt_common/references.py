"""Cross-service references between resources (table ``core.resource_reference``).

Services never import each other, yet a dataset must not vanish under a training run or a model
that was built from it. The referrer records the edge in the shared ``core`` schema (e.g. the
training service: ``add_reference(s, "dataset", dataset_id, "run", run_id)``) and the owner checks
:func:`referrers` before deleting (DESIGN §3: 409 for state conflicts).
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow
from tradeopt_common.errors import ValidationFailed


class ResourceReference(IdMixin, TimestampMixin, Base):
    """``referrer`` (e.g. a run) depends on ``resource`` (e.g. a dataset)."""

    __tablename__ = "resource_reference"
    __table_args__ = (
        Index(
            "uq_resource_reference_edge",
            "resource_type",
            "resource_id",
            "referrer_type",
            "referrer_id",
            unique=True,
        ),
        Index("ix_resource_reference_referrer", "referrer_type", "referrer_id"),
        {"schema": "core"},
    )

    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID] = mapped_column()
    referrer_type: Mapped[str] = mapped_column(String(32))
    referrer_id: Mapped[uuid.UUID] = mapped_column()


class DeletedResource(Base):
    """Tombstone of a deleted resource that others may reference (datasets, models, ...)."""

    __tablename__ = "deleted_resource"
    __table_args__ = {"schema": "core"}

    resource_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)


class ReferencedResourceDeleted(ValidationFailed):
    """The resource a new one would depend on was deleted meanwhile."""

    code, title = "referenced-resource-deleted", "Referenced resource deleted"


@dataclass(frozen=True)
class Referrer:
    """One resource that depends on another."""

    type: str
    id: uuid.UUID


async def add_reference(
    session: AsyncSession,
    resource_type: str,
    resource_id: uuid.UUID,
    referrer_type: str,
    referrer_id: uuid.UUID,
) -> None:
    """Record that ``referrer`` depends on ``resource`` (idempotent).

    Holds the resource's lock (shared) until commit and refuses a deleted resource.

    Raises:
        ReferencedResourceDeleted: the resource was deleted (its tombstone exists).
    """
    await _lock_resource(session, resource_type, resource_id, shared=True)
    gone = await session.scalar(
        select(DeletedResource.deleted_at).where(
            DeletedResource.resource_type == resource_type,
            DeletedResource.resource_id == resource_id,
        )
    )
    if gone is not None:
        raise ReferencedResourceDeleted(
            f"{resource_type} {resource_id} was deleted",
            errors=[
                {"loc": ["body", f"{resource_type}_id"], "msg": f"{resource_type} was deleted"}
            ],
        )
    exists = await session.scalar(
        select(ResourceReference.id).where(
            ResourceReference.resource_type == resource_type,
            ResourceReference.resource_id == resource_id,
            ResourceReference.referrer_type == referrer_type,
            ResourceReference.referrer_id == referrer_id,
        )
    )
    if exists is not None:
        return
    values = {
        "resource_type": resource_type,
        "resource_id": resource_id,
        "referrer_type": referrer_type,
        "referrer_id": referrer_id,
    }
    if session.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(ResourceReference).values(id=uuid.uuid4(), **values)
        await session.execute(stmt.on_conflict_do_nothing())
    else:
        session.add(ResourceReference(**values))
        await session.flush()


async def remove_references(
    session: AsyncSession, referrer_type: str, referrer_id: uuid.UUID
) -> int:
    """Drop every edge of a referrer (call when the referrer is deleted). Returns the count."""
    result = await session.execute(
        delete(ResourceReference).where(
            ResourceReference.referrer_type == referrer_type,
            ResourceReference.referrer_id == referrer_id,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)  # a DML result (CursorResult) has it


async def referrers(
    session: AsyncSession, resource_type: str, resource_id: uuid.UUID, *, limit: int = 20
) -> list[Referrer]:
    """Resources that depend on ``resource`` (oldest first, at most ``limit``)."""
    rows = await session.execute(
        select(ResourceReference.referrer_type, ResourceReference.referrer_id)
        .where(
            ResourceReference.resource_type == resource_type,
            ResourceReference.resource_id == resource_id,
        )
        .order_by(ResourceReference.created_at)
        .limit(limit)
    )
    return [Referrer(type=t, id=i) for t, i in rows.all()]


async def _lock_resource(
    session: AsyncSession, resource_type: str, resource_id: uuid.UUID, *, shared: bool
) -> None:
    """Take the resource's transaction lock (an advisory lock; SQLite serialises writers)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(f"resource:{resource_type}:{resource_id}".encode())
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await session.execute(text(f"SELECT {fn}(:k)"), {"k": key})


async def guard_deletion(
    session: AsyncSession, resource_type: str, resource_id: uuid.UUID, *, limit: int = 20
) -> list[Referrer]:
    """Lock the resource against new references (exclusive, until commit) and return those that
    exist. The caller answers 409 naming them, or deletes and calls :func:`record_deletion`.
    """
    await _lock_resource(session, resource_type, resource_id, shared=False)
    return await referrers(session, resource_type, resource_id, limit=limit)


async def record_deletion(
    session: AsyncSession, resource_type: str, resource_id: uuid.UUID, *, referrer: bool = True
) -> None:
    """Leave the deleted resource's tombstone and, when it was itself a ``referrer``, drop its
    edges (so what it used becomes deletable). Call in the deleting transaction, after
    :func:`guard_deletion`.
    """
    session.add(DeletedResource(resource_type=resource_type, resource_id=resource_id))
    if referrer:
        await remove_references(session, resource_type, resource_id)
    await session.flush()
