"""Creating, verifying and revoking API keys.

A key looks like ``to_<prefix>_<secret>``; the prefix finds the row, the SHA-256 of the whole key
is compared in constant time. Keys are 256-bit random, so a fast hash is the right tool (no
password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.auth.models import ApiKey
from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import NotFound

KEY_PREFIX = "to_"


class Scope(StrEnum):
    """Scopes, each including the ones below it."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a stored key or the bootstrap key."""

    id: str
    name: str
    scopes: frozenset[Scope]

    def has(self, needed: Scope) -> bool:
        """Whether any held scope ranks at or above ``needed``."""
        return any(_RANK[s] >= _RANK[needed] for s in self.scopes)


BOOTSTRAP_ID = "bootstrap"


def hash_key(key: str) -> str:
    """SHA-256 hex of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new ``(key, prefix)``."""
    prefix = secrets.token_hex(6)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def parse_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else ``None``."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


async def create_key(session: AsyncSession, name: str, scopes: list[Scope]) -> tuple[ApiKey, str]:
    """Store a new key; returns the row and the plain key (shown once)."""
    key, prefix = generate_key()
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=[s.value for s in scopes])
    session.add(row)
    await session.flush()
    return row, key


async def list_keys(session: AsyncSession, include_revoked: bool = False) -> list[ApiKey]:
    """Keys, newest first."""
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc())
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list((await session.execute(stmt)).scalars())


async def revoke_key(session: AsyncSession, key_id_or_prefix: str) -> ApiKey:
    """Revoke by id or prefix; revoking twice is harmless."""
    stmt = select(ApiKey)
    try:
        stmt = stmt.where(ApiKey.id == uuid.UUID(key_id_or_prefix))
    except ValueError:
        stmt = stmt.where(ApiKey.prefix == key_id_or_prefix)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no API key {key_id_or_prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


async def authenticate(
    session: AsyncSession, key: str, bootstrap_key: str | None
) -> Principal | None:
    """The principal a presented key belongs to, or ``None``."""
    if bootstrap_key and hmac.compare_digest(hash_key(key), hash_key(bootstrap_key)):
        return Principal(BOOTSTRAP_ID, "bootstrap", frozenset({Scope.ADMIN}))
    prefix = parse_prefix(key)
    if prefix is None:
        return None
    row = (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return Principal(str(row.id), row.name, frozenset(Scope(s) for s in row.scopes))
