"""deleted_resource: tombstones of deleted resources that others may reference

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 07:00:00

A reference to a resource is only recorded while the resource's lock is held and its tombstone is
absent (``tradeopt_common.references``): a run can no longer be created against a dataset that is
being deleted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_resource",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", name=op.f("pk_deleted_resource")),
        schema="core",
    )


def downgrade() -> None:
    op.drop_table("deleted_resource", schema="core")
