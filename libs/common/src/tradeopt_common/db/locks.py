"""Named transaction locks: serialise a check-then-write that spans several rows.

On PostgreSQL a transaction-level advisory lock (``pg_advisory_xact_lock``) keyed by the name's
CRC-32, released at commit or rollback. On the embedded SQLite nothing is taken: its writers are
serialised by the database file lock.
"""

from __future__ import annotations

import zlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def lock_for_transaction(session: AsyncSession, name: str) -> None:
    """Block until this transaction holds the lock ``name`` (exclusive; PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(name.encode())  # as the migrations' lock
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
