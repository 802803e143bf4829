"""Artifact store in a local folder.

Layout under the root folder::

    <root>/<key>                  the object's content
    <root>/.~meta/<key>.json      sidecar: sha256, size, content type, and the data file's identity
    <dir>/.~<name>.<random>.tmp   in-flight writes (same folder as the target, then os.replace)

``~`` is not allowed in keys, so neither sidecars nor temporary files can ever collide with an
object or show up in a listing.

A sidecar records the inode, size and mtime of the data file it describes. If they do not match
the data file (a concurrent writer between its two renames, a crash between them, or a file
changed behind the store's back), the reader waits briefly for the writer, then recomputes the
digest from the content and rewrites the sidecar.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_mod
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from tradeopt_common.storage.base import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    ChunkIterator,
    ObjectInfo,
    StorageUnavailable,
    copy_hashing,
    is_valid_key,
    validate_key,
    validate_prefix,
    write_atomic,
)

__all__ = ["META_DIR", "LocalArtifactStore"]

META_DIR = ".~meta"
"""Name of the sidecar tree under the root (``~`` cannot appear in keys)."""

_SIDECAR_VERSION = 1
_STALE_RETRIES = 5
_STALE_DELAY_S = 0.02


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under a root folder, with checksum sidecars.

    Writes are atomic (temp file + ``os.replace``) and create parent folders as needed. The
    root itself is created by :meth:`ensure_ready` (or lazily by the first write).

    Args:
        root: The artifact folder.
        fsync: ``fsync`` every written file before it is renamed into place.
    """

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._meta_root = self.root / META_DIR
        self._fsync = fsync

    def __repr__(self) -> str:
        return f"LocalArtifactStore(root={str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._meta_root / f"{key}.json"

    # -- readiness -----------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the root folder and its sidecar tree if missing (idempotent).

        Raises:
            StorageUnavailable: If the folder cannot be created (a file is in the way, no
                permission, ...).
        """
        try:
            self._meta_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create artifact folder {self.root}: {exc}") from exc

    def ping(self) -> None:
        """Check that the root folder exists and is writable.

        Raises:
            StorageUnavailable: If it is missing, not a folder, or not writable.
        """
        if not self.root.is_dir():
            raise StorageUnavailable(
                f"artifact folder {self.root} does not exist (run ensure_ready)"
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"artifact folder {self.root} is not writable")

    # -- writes --------------------------------------------------------------------------

    def _put(self, key: str, read: Callable[[int], bytes | None], content_type: str) -> ObjectInfo:
        target = self._path(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        try:
            sha256, size = write_atomic(
                target,
                lambda fh: copy_hashing(read, fh, DEFAULT_CHUNK_SIZE),
                fsync=self._fsync,
            )
            st = os.stat(target)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise ArtifactError(
                f"cannot write {key!r}: it clashes with an existing object or prefix ({exc})"
            ) from exc
        except OSError as exc:
            if target.is_dir():
                raise ArtifactError(
                    f"cannot write {key!r}: a prefix {key + '/'!r} already holds objects"
                ) from exc
            raise ArtifactError(f"cannot write {key!r}: {exc}") from exc
        self._write_meta(key, st, sha256, content_type)
        return ObjectInfo(key, size, sha256, content_type, _mtime(st))

    def _write_meta(self, key: str, st: os.stat_result, sha256: str, content_type: str) -> None:
        record = {
            "version": _SIDECAR_VERSION,
            "sha256": sha256,
            "size": st.st_size,
            "content_type": content_type,
            "ino": st.st_ino,
            "mtime_ns": st.st_mtime_ns,
        }
        payload = json.dumps(record, sort_keys=True).encode()
        try:
            write_atomic(self._meta_path(key), lambda fh: fh.write(payload), fsync=self._fsync)
        except OSError as exc:
            raise ArtifactError(f"cannot write metadata of {key!r}: {exc}") from exc

    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically. See :meth:`ArtifactStore.put_bytes`."""
        view = memoryview(data)
        pos = 0

        def read(size: int) -> bytes:
            nonlocal pos
            block = bytes(view[pos : pos + size])
            pos += len(block)
            return block

        return self._put(key, read, content_type)

    def put_file(
        self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Copy the file ``path`` to ``key`` atomically. See :meth:`ArtifactStore.put_file`."""
        validate_key(key)
        with open(path, "rb") as src:
            return self._put(key, src.read, content_type)

    def put_stream(
        self, key: str, stream: BinaryIO, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Copy ``stream`` to ``key`` atomically. See :meth:`ArtifactStore.put_stream`."""
        return self._put(key, stream.read, content_type)

    # -- reads ---------------------------------------------------------------------------

    def _read_meta(self, key: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    @staticmethod
    def _meta_matches(record: dict[str, Any] | None, st: os.stat_result) -> bool:
        return (
            record is not None
            and isinstance(record.get("sha256"), str)
            and record.get("size") == st.st_size
            and record.get("ino") == st.st_ino
            and record.get("mtime_ns") == st.st_mtime_ns
        )

    def _open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        """Open the object and return it with info that describes exactly the opened file."""
        path = self._path(key)
        try:
            fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - handed to the caller
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ArtifactNotFound(key) from None
        except OSError as exc:
            raise ArtifactError(f"cannot read {key!r}: {exc}") from exc
        try:
            st = os.fstat(fh.fileno())
            if not stat_mod.S_ISREG(st.st_mode):
                raise ArtifactNotFound(key)
            record = self._read_meta(key)
            for _ in range(_STALE_RETRIES):
                if self._meta_matches(record, st) or record is None:
                    break
                # A writer may be between its data rename and its sidecar rename.
                time.sleep(_STALE_DELAY_S)
                record = self._read_meta(key)
            content_type = DEFAULT_CONTENT_TYPE
            if record is not None and isinstance(record.get("content_type"), str):
                content_type = record["content_type"]
            if self._meta_matches(record, st):
                assert record is not None
                sha256 = record["sha256"]
            else:
                # Missing or stale sidecar: recompute from the content and heal it.
                digest = hashlib.sha256()
                for block in iter(lambda: fh.read(DEFAULT_CHUNK_SIZE), b""):
                    digest.update(block)
                fh.seek(0)
                sha256 = digest.hexdigest()
                with contextlib.suppress(ArtifactError):
                    self._write_meta(key, st, sha256, content_type)
            return fh, ObjectInfo(key, st.st_size, sha256, content_type, _mtime(st))
        except BaseException:
            fh.close()
            raise

    def stat(self, key: str) -> ObjectInfo:
        """Return the info of ``key``. See :meth:`ArtifactStore.stat`."""
        fh, info = self._open(key)
        fh.close()
        return info

    def get_bytes(self, key: str) -> bytes:
        """Return the verified content of ``key``. See :meth:`ArtifactStore.get_bytes`."""
        fh, info = self._open(key)
        with fh:
            data = fh.read()
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != info.size or actual != info.sha256:
            raise ArtifactIntegrityError(key, info.sha256, actual)
        return data

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkIterator:
        """Stream the content of ``key``. See :meth:`ArtifactStore.iter_chunks`."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        fh, info = self._open(key)
        return ChunkIterator(key, fh.read, fh, chunk_size, info.sha256, info.size)

    def download_file(self, key: str, path: Path | str) -> ObjectInfo:
        """Copy ``key`` to ``path`` atomically, verified.

        See :meth:`ArtifactStore.download_file`.
        """
        fh, info = self._open(key)
        target = Path(path)

        def write(dst: IO[bytes]) -> None:
            sha256, size = copy_hashing(fh.read, dst, DEFAULT_CHUNK_SIZE)
            if size != info.size or sha256 != info.sha256:
                raise ArtifactIntegrityError(
                    key, info.sha256, sha256, f"{size} bytes read, {info.size} recorded"
                )

        with fh:
            write_atomic(target, write, fsync=self._fsync)
        return info

    # -- listing and deletion ------------------------------------------------------------

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix``. See :meth:`ArtifactStore.list_keys`."""
        validate_prefix(prefix)
        keys: list[str] = []
        self._walk(self.root / prefix if prefix else self.root, prefix, keys)
        keys.sort()
        return keys

    def _walk(self, folder: Path, key_prefix: str, out: list[str]) -> None:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise ArtifactError(f"cannot list {folder}: {exc}") from exc
        for entry in entries:
            # Skips the sidecar tree, temp files and anything else that is not a valid key.
            key = key_prefix + entry.name
            if entry.is_symlink() or not is_valid_key(key):
                continue
            if entry.is_dir(follow_symlinks=False):
                self._walk(Path(entry.path), key + "/", out)
            elif entry.is_file(follow_symlinks=False):
                out.append(key)

    def delete(self, key: str) -> None:
        """Delete ``key`` (a missing key is fine). See :meth:`ArtifactStore.delete`."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            if path.is_dir():  # a prefix, not an object
                return
            raise ArtifactError(f"cannot delete {key!r}: {exc}") from exc
        meta = self._meta_path(key)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            meta.unlink()
        self._prune(path.parent, self.root)
        self._prune(meta.parent, self._meta_root)

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        """Remove empty folders from ``folder`` up to (not including) ``stop``."""
        while folder != stop and stop in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
