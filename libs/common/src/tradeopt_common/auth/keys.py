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
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.auth.models import ApiKey
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import after_commit
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
#: The principal of calls between services (a walk-forward or a study starting training runs):
#: write scope only, recorded as the creator of what it makes.
SERVICE_ID = "service"
#: ``last_used_at`` is kept to this resolution (one write per key per interval and process).
LAST_USED_RESOLUTION = timedelta(minutes=5)


def service_key_for(bootstrap_key: str) -> str:
    """The internal service key derived from the deployment's bootstrap key (HMAC-SHA256), so
    every process of a deployment knows it without another secret, and it grants only ``write``:
    a service calling another never holds the admin key.
    """
    mac = hmac.new(bootstrap_key.encode(), b"tradeopt internal service key v1", hashlib.sha256)
    return f"{KEY_PREFIX}svc_{mac.hexdigest()}"


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


async def revoke_key(
    session: AsyncSession, key_id_or_prefix: str, *, redis_uri: str | None = None
) -> ApiKey:
    """Revoke by id or prefix; revoking twice is harmless.

    After the unit of work commits, this process's principal caches are cleared and the
    revocation is announced on Redis (``redis_uri``, default the configured one) so every API
    process clears its cache too (:mod:`tradeopt_common.auth.cache`).
    """
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
    key_id = str(row.id)

    async def _announce() -> None:
        from tradeopt_common.auth.cache import announce_revocation, invalidate_local_caches
        from tradeopt_common.config import get_settings

        invalidate_local_caches()
        await announce_revocation(redis_uri or get_settings().redis_uri, key_id)

    after_commit(session, _announce)
    return row


async def verify_key(session: AsyncSession, key: str, digest: str | None = None) -> ApiKey | None:
    """The stored, unrevoked key row matching a presented key, else ``None``. Reads only.

    Args:
        session: a unit of work.
        key: the presented key.
        digest: ``hash_key(key)`` when the caller has it already.
    """
    prefix = parse_prefix(key)
    if prefix is None:
        return None
    row = (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, digest or hash_key(key)):
        return None
    return row


async def record_last_used(
    session: AsyncSession,
    key_id: uuid.UUID,
    now: datetime,
    resolution: timedelta = LAST_USED_RESOLUTION,
) -> None:
    """Set ``last_used_at`` to ``now`` unless it is already within ``resolution`` of it. Meant
    for its own short transaction (:class:`~tradeopt_common.auth.cache.LastUsedRecorder`), never
    a request's: the row lock would make every other request with the key wait.
    """
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - resolution),
        )
        .values(last_used_at=now)
    )


async def authenticate(
    session: AsyncSession, key: str, bootstrap_key: str | None
) -> Principal | None:
    """The principal a presented key belongs to, or ``None``. Reads only: requests go through
    :class:`~tradeopt_common.auth.cache.Authenticator`, which also records ``last_used_at``.
    """
    if bootstrap_key and hmac.compare_digest(hash_key(key), hash_key(bootstrap_key)):
        return Principal(BOOTSTRAP_ID, "bootstrap", frozenset({Scope.ADMIN}))
    row = await verify_key(session, key)
    if row is None:
        return None
    return Principal(str(row.id), row.name, frozenset(Scope(s) for s in row.scopes))
