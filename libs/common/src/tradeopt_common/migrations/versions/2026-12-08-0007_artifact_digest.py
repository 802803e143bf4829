"""artifact_digest: SHA-256 and size of every object a worker will unpickle, as written

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 07:00:00

Models, checkpoints, VecNormalize statistics and replay buffers are verified against this record
before they are loaded (``tradeopt_common.storage.integrity``): the bucket is not trusted to run
code on the workers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact_digest",
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_artifact_digest")),
        schema="core",
    )


def downgrade() -> None:
    op.drop_table("artifact_digest", schema="core")
