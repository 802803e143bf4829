"""multi-objective studies: study.objectives, study.best_trials (the Pareto front), trial.values

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 12:00:00
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
    return "tuning" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    # NULL on rows of single-objective studies written before: their objective is the list
    op.add_column("study", sa.Column("objectives", json_type, nullable=True), schema=_schema())
    op.add_column("study", sa.Column("best_trials", json_type, nullable=True), schema=_schema())
    op.add_column("trial", sa.Column("values", json_type, nullable=True), schema=_schema())


def downgrade() -> None:
    op.drop_column("trial", "values", schema=_schema())
    op.drop_column("study", "best_trials", schema=_schema())
    op.drop_column("study", "objectives", schema=_schema())
