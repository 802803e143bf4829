"""live bar feed: a live session's bar source (pushed or pulled from Alpaca's market data), its
timeframe, and the feed's last problem and poll

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tradeopt_common.db.base import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE names the table directly; SQLite has no schemas (see session.create_engine).
    return "strategy" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "paper_session",
        sa.Column("feed", sa.String(16), nullable=False, server_default="push"),
        schema=schema,
    )
    op.add_column(
        "paper_session", sa.Column("feed_timeframe", sa.String(8), nullable=True), schema=schema
    )
    op.add_column("paper_session", sa.Column("feed_error", sa.Text(), nullable=True), schema=schema)
    op.add_column(
        "paper_session", sa.Column("feed_polled_at", UTCDateTime(timezone=True), nullable=True), schema=schema
    )


def downgrade() -> None:
    schema = _schema()
    for column in ("feed_polled_at", "feed_error", "feed_timeframe", "feed"):
        op.drop_column("paper_session", column, schema=schema)
