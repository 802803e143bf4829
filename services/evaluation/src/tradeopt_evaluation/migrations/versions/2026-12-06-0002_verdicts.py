"""verdicts: paired tests, multiple-testing control, seed robustness and PBO of an evaluation

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'evaluation',
        sa.Column(
            'verdicts',
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        schema='evaluation',
    )


def downgrade() -> None:
    op.drop_column('evaluation', 'verdicts', schema='evaluation')
