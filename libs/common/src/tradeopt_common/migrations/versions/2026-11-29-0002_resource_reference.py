"""resource references between services

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_reference",
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("referrer_type", sa.String(length=32), nullable=False),
        sa.Column("referrer_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_reference")),
        schema="core",
    )
    op.create_index(
        op.f("ix_core_resource_reference_created_at"),
        "resource_reference",
        ["created_at"],
        unique=False,
        schema="core",
    )
    op.create_index(
        "uq_resource_reference_edge",
        "resource_reference",
        ["resource_type", "resource_id", "referrer_type", "referrer_id"],
        unique=True,
        schema="core",
    )
    op.create_index(
        "ix_resource_reference_referrer",
        "resource_reference",
        ["referrer_type", "referrer_id"],
        unique=False,
        schema="core",
    )


def downgrade() -> None:
    op.drop_table("resource_reference", schema="core")
