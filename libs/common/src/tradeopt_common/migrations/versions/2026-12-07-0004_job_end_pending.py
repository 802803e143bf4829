"""job.end_pending: a terminal job whose resource has not followed it yet

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 07:00:00

Set in the transaction that ends a job outside the process that knows its resource (the reaper in
another service's worker, a cancel through another service's API), cleared by the owning
service's ``<svc>.job_ended`` handler when it has mirrored the end on the resource. The reaper
re-sends the notification for jobs still pending, so a lost message (Redis restarted, broker
unreachable at that moment) can no longer leave a resource ``queued``/``running`` forever.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "core" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column(
        "job",
        sa.Column("end_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=schema,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("job", "end_pending", server_default=None, schema=schema)


def downgrade() -> None:
    op.drop_column("job", "end_pending", schema=_schema())
