"""job.deadline_at: when a job that is still queued, running or waiting gives up

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09 08:00:00

A parked parent (a walk-forward waiting on its fold runs) used to wait forever on a child that
never ends. With a deadline the reaper fails it (cancelling its children) or, while it runs, asks
it to stop.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "core" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    op.add_column(
        "job",
        sa.Column(
            "deadline_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        schema=_schema(),
    )


def downgrade() -> None:
    op.drop_column("job", "deadline_at", schema=_schema())
