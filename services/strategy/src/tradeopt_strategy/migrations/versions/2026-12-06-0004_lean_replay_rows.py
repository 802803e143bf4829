"""lean replay rows: paper_bar.applied as JSON (not JSONB); no index on paper_order.session_id
(the unique (session_id, t, symbol) serves it) nor on paper_order/paper_fill created_at

A replay writes one bar, and per traded bar one order and one fill: every index and every JSONB
document is paid per row at write time. None of the dropped indexes served a read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    ("ix_strategy_paper_order_session_id", "paper_order", ["session_id"]),
    ("ix_strategy_paper_order_created_at", "paper_order", ["created_at"]),
    ("ix_strategy_paper_fill_created_at", "paper_fill", ["created_at"]),
)


def _schema() -> str | None:
    # SQLite has no schemas (see session.create_engine).
    return "strategy" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    for name, table, _ in _DROPPED:
        op.drop_index(name, table_name=table, schema=schema)
    if schema is not None:  # SQLite stores both as JSON text
        op.alter_column(
            "paper_bar", "applied", schema=schema,
            type_=sa.JSON(), existing_type=postgresql.JSONB(), existing_nullable=False,
            postgresql_using="applied::json",
        )  # fmt: skip


def downgrade() -> None:
    schema = _schema()
    if schema is not None:
        op.alter_column(
            "paper_bar", "applied", schema=schema,
            type_=postgresql.JSONB(), existing_type=sa.JSON(), existing_nullable=False,
            postgresql_using="applied::jsonb",
        )  # fmt: skip
    for name, table, columns in _DROPPED:
        op.create_index(name, table, columns, unique=False, schema=schema)
