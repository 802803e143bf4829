"""core.auth_session: browser sessions opened with an API key (HttpOnly cookie)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00

A random token per session, stored as its SHA-256 with the key it stands for and an expiry
(``POST /api/v1/auth/session``; ``DELETE`` removes the row). See tradeopt_common.auth.sessions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tradeopt_common.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _schema() -> str | None:
    return "core" if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    schema = _schema()
    prefix = f"{schema}." if schema else ""
    op.create_table(
        "auth_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", tradeopt_common.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            [f"{prefix}api_key.id"],
            name=op.f("fk_auth_session_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_session_token_hash")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_core_auth_session_api_key_id"),
        "auth_session",
        ["api_key_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_core_auth_session_expires_at"),
        "auth_session",
        ["expires_at"],
        unique=False,
        schema=schema,
    )


def downgrade() -> None:
    schema = _schema()
    op.drop_index(op.f("ix_core_auth_session_expires_at"), table_name="auth_session", schema=schema)
    op.drop_index(op.f("ix_core_auth_session_api_key_id"), table_name="auth_session", schema=schema)
    op.drop_table("auth_session", schema=schema)
