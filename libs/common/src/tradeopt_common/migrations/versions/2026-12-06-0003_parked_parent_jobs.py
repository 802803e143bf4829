"""parked parent jobs: parent_id, state (checkpoint), wakeups

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 07:00:00

``waiting`` is a new value of ``core.job.status`` (a String(16) column: no DDL for it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    # ALTER TABLE names the table directly; SQLite has no schemas (see session.create_engine).
    return "core" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    op.add_column("job", sa.Column("parent_id", sa.Uuid(), nullable=True), schema=schema)
    op.add_column(
        "job",
        sa.Column(
            "state",
            tradeopt_common.db.base.JSONType,
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        schema=schema,
    )
    op.add_column(
        "job",
        sa.Column("wakeups", sa.Integer(), nullable=False, server_default=sa.text("0")),
        schema=schema,
    )
    # The model has no server defaults (the ORM fills them); they only backfilled existing rows.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("job", "state", server_default=None, schema=schema)
        op.alter_column("job", "wakeups", server_default=None, schema=schema)
        # SQLite cannot add a constraint to an existing table; the column is enough there.
        op.create_foreign_key(
            op.f("fk_job_parent_id_job"),
            "job",
            "job",
            ["parent_id"],
            ["id"],
            source_schema=schema,
            referent_schema=schema,
            ondelete="SET NULL",
        )
    op.create_index(op.f("ix_core_job_parent_id"), "job", ["parent_id"], unique=False, schema=schema)


def downgrade() -> None:
    schema = _schema()
    op.drop_index(op.f("ix_core_job_parent_id"), table_name="job", schema=schema)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_job_parent_id_job"), "job", schema=schema, type_="foreignkey")
    op.drop_column("job", "wakeups", schema=schema)
    op.drop_column("job", "state", schema=schema)
    op.drop_column("job", "parent_id", schema=schema)
