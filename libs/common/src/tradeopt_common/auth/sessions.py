"""Browser sessions: an API key exchanged for an HttpOnly cookie (DESIGN §3).

Design: a random session token (256 bits, ``secrets.token_urlsafe``) in the cookie, stored only as
its SHA-256 in ``core.auth_session`` with the key it stands for and an expiry — not a signed
token. A stored token can be ended for real: logout deletes the row, and because the session
keeps the key's id and hash and every use re-checks the key (revoked? rotated? — through the same
cache and revocation broadcast as keys), revoking a key ends its sessions at once. A signed token
would need a signing secret shared by every service (and its rotation), and could only be
revoked by keeping a deny-list, i.e. a table anyway. The cost, one indexed lookup, is paid once
per process and cache period (:class:`~tradeopt_common.auth.cache.Authenticator`).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.auth.keys import BOOTSTRAP_ID, SERVICE_ID, Principal, Scope, hash_key
from tradeopt_common.auth.models import ApiKey, AuthSession
from tradeopt_common.db.base import utcnow
from tradeopt_common.errors import Forbidden

#: The session cookie's name.
SESSION_COOKIE = "tradeopt_session"


@dataclass(frozen=True)
class OpenedSession:
    """A new session: the token for the cookie (shown once) and its expiry."""

    token: str
    expires_at: datetime


async def open_session(
    session: AsyncSession, principal: Principal, key: str, ttl: timedelta
) -> OpenedSession:
    """Store a session for ``principal``, who presented ``key``; ``ttl`` from now.

    Raises:
        Forbidden: the internal service key (it is for calls between services, not browsers).
    """
    if principal.id == SERVICE_ID:
        raise Forbidden("the internal service key cannot open a browser session")
    token = secrets.token_urlsafe(32)
    expires = utcnow() + ttl
    api_key_id = None if principal.id == BOOTSTRAP_ID else uuid.UUID(principal.id)
    session.add(
        AuthSession(
            token_hash=hash_key(token),
            api_key_id=api_key_id,
            key_hash=hash_key(key),
            expires_at=expires,
        )
    )
    await session.flush()
    return OpenedSession(token, expires)


async def close_session(session: AsyncSession, token: str) -> bool:
    """Delete the session of ``token`` (and any expired ones); whether it existed."""
    result = await session.execute(
        delete(AuthSession).where(AuthSession.token_hash == hash_key(token))
    )
    await session.execute(delete(AuthSession).where(AuthSession.expires_at < utcnow()))
    return bool(getattr(result, "rowcount", 0))


async def session_principal(
    session: AsyncSession, token: str, bootstrap_hash: str | None
) -> tuple[Principal, datetime | None] | None:
    """The principal a session token stands for (with its key's ``last_used_at``), or ``None``
    when the token is unknown or expired, or its key was revoked or is no longer the one it was
    opened with (bootstrap key rotated). Reads only.
    """
    row = (
        await session.execute(select(AuthSession).where(AuthSession.token_hash == hash_key(token)))
    ).scalar_one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    if row.api_key_id is None:
        if bootstrap_hash is None or not hmac.compare_digest(row.key_hash, bootstrap_hash):
            return None
        return Principal(BOOTSTRAP_ID, "bootstrap", frozenset({Scope.ADMIN})), None
    key = await session.get(ApiKey, row.api_key_id)
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, row.key_hash):
        return None
    principal = Principal(str(key.id), key.name, frozenset(Scope(s) for s in key.scopes))
    return principal, key.last_used_at
