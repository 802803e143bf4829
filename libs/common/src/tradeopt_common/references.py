"""Cross-service references between resources (table ``core.resource_reference``).

Services never import each other, yet a dataset must not vanish under a training run or a model
that was built from it. The referrer records the edge in the shared ``core`` schema (e.g. the
training service: ``add_reference(s, "dataset", dataset_id, "run", run_id)``) and the owner checks
:func:`referrers` before deleting (DESIGN §3: 409 for state conflicts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Index, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin


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
    """Record that ``referrer`` depends on ``resource`` (idempotent)."""
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
