"""broker fill reports: Alpaca's filled quantity and price per order, its positions per session

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 13:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE names the table directly; SQLite has no schemas (see session.create_engine).
    return "strategy" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "paper_order", sa.Column("broker_filled_qty", sa.Float(), nullable=True), schema=schema
    )
    op.add_column(
        "paper_order", sa.Column("broker_fill_price", sa.Float(), nullable=True), schema=schema
    )
    op.add_column(
        "paper_session", sa.Column("broker_positions", sa.JSON(), nullable=True), schema=schema
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_column("paper_session", "broker_positions", schema=schema)
    op.drop_column("paper_order", "broker_fill_price", schema=schema)
    op.drop_column("paper_order", "broker_filled_qty", schema=schema)
