"""trial.intermediate_values and study.n_pruned (pruning)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "tuning" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column(
        "trial",
        sa.Column("intermediate_values", json_type, nullable=False, server_default="{}"),
        schema=schema,
    )
    op.add_column(
        "study",
        sa.Column("n_pruned", sa.Integer(), nullable=False, server_default="0"),
        schema=schema,
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite cannot alter a column
        op.alter_column("trial", "intermediate_values", server_default=None, schema=schema)
        op.alter_column("study", "n_pruned", server_default=None, schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_column("study", "n_pruned", schema=schema)
    op.drop_column("trial", "intermediate_values", schema=schema)
