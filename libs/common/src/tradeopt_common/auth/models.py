"""The API key record (table ``core.api_key``) and browser sessions (``core.auth_session``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, TimestampMixin, utcnow


class ApiKey(IdMixin, TimestampMixin, Base):
    """A hashed API key. The plain key is shown once, at creation."""

    __tablename__ = "api_key"
    __table_args__ = {"schema": "core"}

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class AuthSession(IdMixin, Base):
    """A browser session (table ``core.auth_session``): a random token, stored as its SHA-256,
    that stands for the API key it was opened with until ``expires_at`` or logout. The key's
    hash is kept so that revoking or rotating the key ends its sessions at once.
    """

    __tablename__ = "auth_session"
    __table_args__ = {"schema": "core"}

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The stored key it was opened with; ``None`` for the bootstrap key.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core.api_key.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the key it was opened with (the bootstrap key's, or the stored key's hash).
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
