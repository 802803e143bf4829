"""The trust boundary between the bucket and the workers: digests recorded in PostgreSQL.

Model archives, checkpoints, VecNormalize statistics and replay buffers are unpickled when a
worker loads them, so whoever can write the bucket could run code on the workers. Every such
object is therefore recorded, when a worker writes it, in ``core.artifact_digest`` (key →
SHA-256, size), and verified against that record before it is loaded: an object whose content
does not match, or that has no record, fails the job with a clear error and nothing is loaded.
The digest the store keeps in the bucket itself (object metadata) is not trusted for this: it
is as writable as the content.

Use :func:`put_recorded` to upload, :func:`fetch_verified` to download, and
:func:`record_digests`/:func:`recorded_digests`/:func:`forget_digests` in the job's database
session (``ctx.db``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, utcnow
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.storage.base import MAX_KEY_LENGTH, ArtifactIntegrityError, ArtifactStore


class ArtifactDigest(Base):
    """The digest of an object as its writer uploaded it."""

    __tablename__ = "artifact_digest"
    __table_args__ = {"schema": "core"}

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Digest:
    """SHA-256 (hex) and size of an object's content."""

    sha256: str
    size: int


class UntrustedArtifact(ValidationFailed):
    """An object to be loaded does not match the digest recorded when it was written (or has
    none): the job fails and nothing is loaded.
    """

    code, title = "untrusted-artifact", "Artifact failed verification"


def put_recorded(
    store: ArtifactStore, key: str, path: Path, *, content_type: str | None = None
) -> Digest:
    """Upload ``path`` under ``key``; returns the digest to record (the store computes it)."""
    if content_type is None:
        info = store.put_file(key, path)
    else:
        info = store.put_file(key, path, content_type=content_type)
    return Digest(info.sha256, info.size)


def fetch_verified(
    store: ArtifactStore, key: str, path: Path, expected: Mapping[str, Digest]
) -> Path:
    """Download ``key`` to ``path`` and check it against ``expected[key]`` (from
    :func:`recorded_digests`); on a mismatch or a missing record the file is deleted and
    :class:`UntrustedArtifact` raised.
    """
    recorded = expected.get(key)
    if recorded is None:
        raise UntrustedArtifact(
            f"object {key!r} has no digest recorded by the worker that wrote it; refusing to "
            "load it (it was not written by this deployment, or before digests were recorded)"
        )
    try:
        info = store.download_file(key, path)
    except ArtifactIntegrityError as exc:
        raise UntrustedArtifact(f"object {key!r} is corrupted in the bucket: {exc}") from exc
    if info.sha256 != recorded.sha256 or info.size != recorded.size:
        path.unlink(missing_ok=True)
        raise UntrustedArtifact(
            f"object {key!r} does not match the digest recorded when it was written "
            f"(sha256 {recorded.sha256[:12]}…, {recorded.size} bytes; found "
            f"{info.sha256[:12]}…, {info.size} bytes): it was changed in the bucket; "
            "refusing to load it"
        )
    return path


async def record_digests(session: AsyncSession, digests: Mapping[str, Digest]) -> None:
    """Record (or replace) the digests of objects just written."""
    if not digests:
        return
    if session.get_bind().dialect.name == "postgresql":
        for key, digest in digests.items():
            stmt = pg_insert(ArtifactDigest).values(
                key=key, sha256=digest.sha256, size=digest.size, created_at=utcnow()
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ArtifactDigest.key],
                    set_={"sha256": digest.sha256, "size": digest.size, "created_at": utcnow()},
                )
            )
        return
    for key, digest in digests.items():
        await session.merge(ArtifactDigest(key=key, sha256=digest.sha256, size=digest.size))
    await session.flush()


async def recorded_digests(session: AsyncSession, keys: Iterable[str]) -> dict[str, Digest]:
    """The recorded digests of ``keys`` (keys without a record are absent)."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = await session.execute(
        select(ArtifactDigest.key, ArtifactDigest.sha256, ArtifactDigest.size).where(
            ArtifactDigest.key.in_(wanted)
        )
    )
    return {key: Digest(sha, int(size)) for key, sha, size in rows.all()}


async def forget_digests(session: AsyncSession, prefix: str) -> int:
    """Drop the records of every key under ``prefix`` (its objects were deleted)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await session.execute(
        delete(ArtifactDigest).where(ArtifactDigest.key.like(f"{escaped}%", escape="\\"))
    )
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "ArtifactDigest",
    "Digest",
    "UntrustedArtifact",
    "fetch_verified",
    "forget_digests",
    "put_recorded",
    "record_digests",
    "recorded_digests",
]
