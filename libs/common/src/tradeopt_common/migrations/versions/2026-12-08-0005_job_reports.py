"""job.reports: intermediate reports of a running job

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:30:00

A running job appends ``{"step": n, ...}`` reports (a training run's periodic evaluations); a
parent parked with ``wake="any"`` and ``reports_seen`` wakes when an awaited child reports past
what it has seen (the tuning study's pruner reads them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "core" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column(
        "job",
        sa.Column("reports", json_type, nullable=False, server_default="[]"),
        schema=schema,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("job", "reports", server_default=None, schema=schema)


def downgrade() -> None:
    op.drop_column("job", "reports", schema=_schema())
