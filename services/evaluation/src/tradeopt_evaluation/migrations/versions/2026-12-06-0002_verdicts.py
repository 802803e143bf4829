"""evaluation.verdicts: paired tests, adjusted p-values, seed robustness and PBO

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 09:40:00

Existing evaluations get ``{}`` (no verdicts; the API shows ``null``).
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
    return "evaluation" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "evaluation",
        sa.Column(
            "verdicts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        schema=schema,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("evaluation", "verdicts", server_default=None, schema=schema)


def downgrade() -> None:
    op.drop_column("evaluation", "verdicts", schema=_schema())
