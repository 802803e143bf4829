"""The artifact store interface: object metadata, typed errors, key validation.

Two implementations share this contract: :class:`~tradeopt_common.storage.local.LocalArtifactStore`
(a folder) and :class:`~tradeopt_common.storage.s3.S3ArtifactStore` (an S3 bucket through the
``minio`` SDK). All methods are synchronous; call them from Celery tasks directly and from async
code through ``asyncio.to_thread``.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO, Protocol, TypeVar

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "MAX_KEY_LENGTH",
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFound",
    "ArtifactStore",
    "ChunkIterator",
    "InvalidArtifactKey",
    "ObjectInfo",
    "StorageUnavailable",
    "copy_hashing",
    "validate_key",
    "validate_prefix",
    "write_atomic",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
"""Content type used when the caller gives none."""

DEFAULT_CHUNK_SIZE = 1 << 20
"""Default chunk size (1 MiB) for streaming reads and copies."""

MAX_KEY_LENGTH = 1024
"""Longest accepted key, in characters."""

_SEGMENT_RE = re.compile(r"[A-Za-z0-9._=-]+")
_TMP_PREFIX = ".~"  # '~' cannot appear in a key, so temp files never look like objects
_TMP_SUFFIX = ".tmp"

_T = TypeVar("_T")


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one stored object.

    Attributes:
        key: The object's key (``a/b/c.parquet``).
        size: Content length in bytes.
        sha256: Hex SHA-256 digest of the content, computed by the store at upload. Empty only
            for objects that were written to an S3 bucket by something other than this store.
        content_type: The MIME type given at upload.
        last_modified: When the object was last written, timezone-aware UTC.
    """

    key: str
    size: int
    sha256: str
    content_type: str
    last_modified: datetime


class ArtifactError(Exception):
    """Base class of every artifact store error."""


class ArtifactNotFound(ArtifactError):
    """No object exists under the key.

    Attributes:
        key: The missing key.
    """

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        super().__init__(message or f"artifact not found: {key!r}")


class InvalidArtifactKey(ArtifactError, ValueError):
    """A key or prefix fails validation (empty, too long, bad characters, traversal, ...).

    Attributes:
        key: The rejected key or prefix.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid artifact key {key!r}: {reason}")


class StorageUnavailable(ArtifactError):
    """The storage backend cannot be used: server unreachable, bucket or folder missing."""


class ArtifactIntegrityError(ArtifactError):
    """Stored content does not match its recorded SHA-256 digest or size.

    Attributes:
        key: The corrupted object's key.
        expected: The recorded digest.
        actual: The digest of the content actually read.
    """

    def __init__(self, key: str, expected: str, actual: str, detail: str = "") -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"checksum mismatch for {key!r}: recorded sha256 {expected}, got {actual}{extra}"
        )


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe object key and return it unchanged.

    A key is 1 to 1024 characters of ``/``-separated segments; each segment matches
    ``[A-Za-z0-9._=-]+`` and is neither ``.`` nor ``..``. Leading or trailing ``/`` and empty
    segments (``//``) are refused, so a key can never escape the store's root.

    Args:
        key: The candidate key.

    Returns:
        The key, unchanged.

    Raises:
        InvalidArtifactKey: If the key breaks any rule.
    """
    if not isinstance(key, str):
        raise InvalidArtifactKey(repr(key), "key must be a string")
    if not key:
        raise InvalidArtifactKey(key, "key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArtifactKey(
            key[:64] + "...", f"key is longer than {MAX_KEY_LENGTH} characters"
        )
    if key.startswith("/"):
        raise InvalidArtifactKey(key, "key must not start with '/'")
    if key.endswith("/"):
        raise InvalidArtifactKey(key, "key must not end with '/'")
    for segment in key.split("/"):
        if not segment:
            raise InvalidArtifactKey(key, "key must not contain empty segments ('//')")
        if segment in (".", ".."):
            raise InvalidArtifactKey(key, "key must not contain '.' or '..' segments")
        if not _SEGMENT_RE.fullmatch(segment):
            raise InvalidArtifactKey(
                key, f"segment {segment!r} may only contain letters, digits and '._=-'"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Check a listing/deletion prefix and return it unchanged.

    A prefix is either empty (the whole store) or a valid key followed by ``/``.

    Args:
        prefix: The candidate prefix.

    Returns:
        The prefix, unchanged.

    Raises:
        InvalidArtifactKey: If the prefix is neither empty nor ``<valid key>/``.
    """
    if not isinstance(prefix, str):
        raise InvalidArtifactKey(repr(prefix), "prefix must be a string")
    if prefix == "":
        return prefix
    if not prefix.endswith("/"):
        raise InvalidArtifactKey(prefix, "a non-empty prefix must end with '/'")
    try:
        validate_key(prefix[:-1])
    except InvalidArtifactKey as exc:
        raise InvalidArtifactKey(prefix, exc.reason) from None
    return prefix


def is_valid_key(key: str) -> bool:
    """Whether ``key`` passes :func:`validate_key` (for filtering listings)."""
    try:
        validate_key(key)
    except InvalidArtifactKey:
        return False
    return True


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as a timezone-aware UTC datetime (naive values are taken as UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


class SupportsWrite(Protocol):
    """Anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> int | None:
        """Write ``data``."""


def copy_hashing(
    src: Callable[[int], bytes | None], dst: SupportsWrite, chunk: int = DEFAULT_CHUNK_SIZE
) -> tuple[str, int]:
    """Copy ``src`` into ``dst`` chunk by chunk, hashing on the way.

    Args:
        src: A ``read(size)`` callable; ``b""`` means end of data.
        dst: Where the data goes.
        chunk: Largest read, in bytes.

    Returns:
        ``(sha256 hex digest, size in bytes)``.
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        block = src(chunk)
        if block is None:  # a non-blocking raw stream with nothing ready yet
            time.sleep(0.001)
            continue
        if not block:
            break
        digest.update(block)
        dst.write(block)
        size += len(block)
    return digest.hexdigest(), size


def write_atomic(
    target: Path,
    write: Callable[[IO[bytes]], _T],
    *,
    fsync: bool = True,
    mode: int = 0o644,
) -> _T:
    """Write ``target`` atomically: a temp file in the same folder, then ``os.replace``.

    Parent folders are created. On any error the temp file is removed and ``target`` is left as
    it was.

    Args:
        target: The file to create or replace.
        write: Called with the open temp file; its result is returned.
        fsync: Flush the temp file to disk before the rename.
        mode: Permission bits of the new file.

    Returns:
        Whatever ``write`` returned.
    """
    parent = target.parent
    for attempt in range(3):
        parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp_name = tempfile.mkstemp(
                dir=parent, prefix=f"{_TMP_PREFIX}{target.name[:100]}.", suffix=_TMP_SUFFIX
            )
            break
        except FileNotFoundError:  # a concurrent delete pruned the fresh folder; try again
            if attempt == 2:
                raise
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            result = write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return result


class _Closeable(Protocol):
    def close(self) -> None: ...


class ChunkIterator(Iterator[bytes]):
    """A streaming read of one object, in chunks of at most ``chunk_size`` bytes.

    It hashes what it yields; once the content is exhausted it checks the SHA-256 digest (and
    size) against the recorded ones and raises :class:`ArtifactIntegrityError` on a mismatch.
    It holds an open file or HTTP response: iterate it to the end, or call :meth:`close` (it is
    also a context manager, and closes itself when garbage-collected).
    """

    def __init__(
        self,
        key: str,
        read: Callable[[int], bytes],
        resource: _Closeable,
        chunk_size: int,
        expected_sha256: str = "",
        expected_size: int | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._key = key
        self._read = read
        self._resource: _Closeable | None = resource
        self._chunk_size = chunk_size
        self._expected_sha256 = expected_sha256
        self._expected_size = expected_size
        self._on_close = on_close
        self._hash = hashlib.sha256()
        self._size = 0

    def __iter__(self) -> ChunkIterator:
        return self

    def __next__(self) -> bytes:
        if self._resource is None:
            raise StopIteration
        try:
            chunk = self._read(self._chunk_size)
        except BaseException:
            self.close()
            raise
        if chunk:
            self._hash.update(chunk)
            self._size += len(chunk)
            return chunk
        self.close()
        self._verify()
        raise StopIteration

    def _verify(self) -> None:
        actual = self._hash.hexdigest()
        if self._expected_size is not None and self._size != self._expected_size:
            raise ArtifactIntegrityError(
                self._key,
                self._expected_sha256,
                actual,
                f"size {self._size} != recorded {self._expected_size}",
            )
        if self._expected_sha256 and actual != self._expected_sha256:
            raise ArtifactIntegrityError(self._key, self._expected_sha256, actual)

    def close(self) -> None:
        """Release the underlying file or connection (idempotent)."""
        resource, self._resource = self._resource, None
        if resource is None:
            return
        try:
            resource.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> ChunkIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finalizer
            self.close()


class ArtifactStore(abc.ABC):
    """Where artifacts (datasets, models, reports) are kept, by key.

    Keys are validated with :func:`validate_key`; prefixes with :func:`validate_prefix`. Every
    write computes the content's SHA-256 and records it with the object.
    """

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release pooled resources such as HTTP connections; the store stays usable."""

    @abc.abstractmethod
    def ensure_ready(self) -> None:
        """Create the bucket or folder if it is missing (idempotent).

        Raises:
            StorageUnavailable: If the backend cannot be reached or the bucket cannot be made.
        """

    @abc.abstractmethod
    def ping(self) -> None:
        """Cheap readiness check.

        Raises:
            StorageUnavailable: If the backend is unreachable or the bucket/folder is missing.
        """

    @abc.abstractmethod
    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store ``data`` under ``key``, replacing any previous object.

        Args:
            key: The object key.
            data: The content.
            content_type: The MIME type to record.

        Returns:
            The stored object's info (with its SHA-256).

        Raises:
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def put_file(
        self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store the content of the local file ``path`` under ``key`` (multipart when large).

        Args:
            key: The object key.
            path: The file to upload.
            content_type: The MIME type to record.

        Returns:
            The stored object's info.

        Raises:
            InvalidArtifactKey: If the key is invalid.
            FileNotFoundError: If ``path`` does not exist.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def put_stream(
        self, key: str, stream: BinaryIO, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store everything readable from ``stream`` (length unknown) under ``key``.

        The content is never held whole in memory: it is hashed while being spooled to a
        temporary file, which is then uploaded or moved into place.

        Args:
            key: The object key.
            stream: A binary file-like object with ``read(size)``.
            content_type: The MIME type to record.

        Returns:
            The stored object's info.

        Raises:
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Return the whole content of ``key``, verified against its SHA-256.

        Raises:
            ArtifactNotFound: If there is no such object.
            ArtifactIntegrityError: If the content does not match its recorded digest.
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkIterator:
        """Stream the content of ``key`` in chunks of at most ``chunk_size`` bytes.

        The object is opened eagerly, so a missing key raises here, not on first iteration. The
        digest is checked when the stream is exhausted. Consume the iterator or close it.

        Args:
            key: The object key.
            chunk_size: Largest chunk to yield, in bytes.

        Returns:
            An iterator of chunks (also a context manager with ``close()``).

        Raises:
            ArtifactNotFound: If there is no such object.
            ArtifactIntegrityError: At the end of the stream, if the digest does not match.
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def download_file(self, key: str, path: Path | str) -> ObjectInfo:
        """Write the content of ``key`` to ``path`` atomically, verifying its SHA-256.

        The content goes to a temporary file next to ``path`` (parent folders are created),
        which replaces ``path`` only once the digest matches.

        Args:
            key: The object key.
            path: Destination file.

        Returns:
            The object's info.

        Raises:
            ArtifactNotFound: If there is no such object.
            ArtifactIntegrityError: If the content does not match its digest (``path`` is left
                untouched).
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Return the info of ``key``.

        Raises:
            ArtifactNotFound: If there is no such object.
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    def exists(self, key: str) -> bool:
        """Whether an object exists under ``key``.

        Raises:
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """
        try:
            self.stat(key)
        except ArtifactNotFound:
            return False
        return True

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the keys under ``prefix`` (recursive), sorted; cheaper than :meth:`list`.

        Args:
            prefix: ``""`` for everything, else ``<key>/``.

        Raises:
            InvalidArtifactKey: If the prefix is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield the info of every object under ``prefix`` (recursive), sorted by key.

        Objects deleted between listing and reading their info are skipped.

        Args:
            prefix: ``""`` for everything, else ``<key>/``.

        Raises:
            InvalidArtifactKey: If the prefix is invalid (raised at once, not on iteration).
            StorageUnavailable: If the backend cannot be used.
        """
        keys = self.list_keys(prefix)
        return self._stat_each(keys)

    def _stat_each(self, keys: Sequence[str]) -> Iterator[ObjectInfo]:
        for key in keys:
            try:
                yield self.stat(key)
            except ArtifactNotFound:
                continue

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error.

        Raises:
            InvalidArtifactKey: If the key is invalid.
            StorageUnavailable: If the backend cannot be used.
        """

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (``""`` means everything).

        Args:
            prefix: ``""`` or ``<key>/``.

        Returns:
            How many objects were deleted.

        Raises:
            InvalidArtifactKey: If the prefix is invalid.
            StorageUnavailable: If the backend cannot be used.
        """
        keys = self.list_keys(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)
