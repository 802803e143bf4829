"""study.overfitting: the finished study's probability of backtest overfitting (CSCV)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "tuning" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("study", sa.Column("overfitting", json_type, nullable=True), schema=_schema())


def downgrade() -> None:
    op.drop_column("study", "overfitting", schema=_schema())
