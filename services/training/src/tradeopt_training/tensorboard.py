"""TensorBoard over every run's event files (DESIGN §1: the ``tensorboard`` component, gateway
``/tensorboard/``), and the archive of one run's event files
(``GET /api/v1/runs/{id}/tensorboard``).

A training job uploads its event files when the run ends, under ``runs/{run_id}/tb/…``
(:func:`tensorboard_prefix`; :mod:`tradeopt_training.jobs`). TensorBoard reads a local folder, so
the component is one process from the training image:

``python -m tradeopt_training.tensorboard --host 127.0.0.1 --port 6006``

- a **sync loop** (a thread) mirrors the bucket into ``TRADING_OPT_TENSORBOARD_DIR``
  (default ``<data dir>/tensorboard``) every ``TRADING_OPT_TENSORBOARD_SYNC_SECONDS`` (30):
  one paginated ``LIST`` of ``runs/`` per pass (one request per 1,000 keys), then one ``GET`` per
  event file not yet on disk, written to ``<dir>/<run_id>/<file>`` through a temporary name
  without ``tfevents`` in it (TensorBoard never reads a half-written file) and renamed into place.
  Event files are write-once (a resumed run writes a new file name), so a file on disk is never
  fetched again. Files whose object is gone are removed (and their empty run folders); an object
  deleted between the listing and its download is skipped; a failed pass (storage down) is logged
  and retried at the next interval.
- **TensorBoard** (PyPI ``tensorboard``, no TensorFlow) serves that folder with
  ``--path_prefix /tensorboard`` (it is only reached through the gateway, which checks the key or
  session cookie with ``auth_request``; it has no authentication of its own: never publish its
  port), ``--load_fast false`` (the pure-Python loader, no data-server binary) and
  ``--reload_multifile true``; every run shows as its run id.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tradeopt_common.logging import configure_logging, get_logger
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactError, ArtifactNotFound, ObjectInfo

log = get_logger(__name__)

#: TensorBoard's port (DESIGN §1); ``TENSORBOARD_PORT`` moves it in the local fleet.
PORT = 6006
#: The gateway location TensorBoard is served under (its ``--path_prefix``).
PATH_PREFIX = "/tensorboard"
#: Files being downloaded carry this prefix and no ``tfevents``, so TensorBoard skips them.
_PARTIAL = ".sync-partial-"
_EVENT_KEY = re.compile(
    r"^runs/(?P<run>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/tb/(?P<rest>.+)$"
)


def tensorboard_prefix(run_id: uuid.UUID | str) -> str:
    """The object-storage prefix of a run's TensorBoard event files (``runs/{id}/tb/``)."""
    return f"runs/{uuid.UUID(str(run_id))}/tb/"


# ---------------------------------------------------------------------------------------------
# the archive of one run


def event_objects(store: ArtifactStore, run_id: uuid.UUID) -> list[ObjectInfo]:
    """The run's event files in object storage (sorted by key; empty when there are none)."""
    return list(store.list(tensorboard_prefix(run_id)))


class _Spool(io.RawIOBase):
    """A write-only buffer the tar writer fills and the generator drains."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buf += data
        return len(data)

    def drain(self) -> bytes:
        out = bytes(self.buf)
        self.buf.clear()
        return out


class _ChunkReader(io.RawIOBase):
    """``read(n)`` over an iterator of byte chunks (a stored object, verified by the store)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        while size < 0 or len(self.pending) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.pending += chunk
        if size < 0:
            size = len(self.pending)
        out, self.pending = self.pending[:size], self.pending[size:]
        return out


def iter_archive(
    store: ArtifactStore, run_id: uuid.UUID, objects: Sequence[ObjectInfo]
) -> Iterator[bytes]:
    """Stream a ``.tar.gz`` of ``objects`` (a run's event files) as ``<run_id>/<file>`` members,
    so ``tar xzf`` then ``tensorboard --logdir .`` shows the run under its id.
    """
    return iter_tar_gz(store, objects, strip=tensorboard_prefix(run_id), root=str(run_id))


def iter_tar_gz(
    store: ArtifactStore, objects: Sequence[ObjectInfo], *, strip: str, root: str
) -> Iterator[bytes]:
    """Stream a ``.tar.gz`` of stored ``objects``, each as ``<root>/<key without strip>``.

    Memory stays at about one chunk: each object is read from the store (which verifies it) as
    it is written.
    """
    spool = _Spool()
    with tarfile.open(fileobj=spool, mode="w|gz") as tar:
        for obj in objects:
            member = tarfile.TarInfo(f"{root}/{obj.key.removeprefix(strip)}")
            member.size = obj.size
            member.mtime = int(obj.last_modified.timestamp())
            member.mode = 0o644
            with store.iter_chunks(obj.key) as chunks:
                tar.addfile(member, _ChunkReader(chunks))  # type: ignore[arg-type]
            if spool.buf:
                yield spool.drain()
    if spool.buf:
        yield spool.drain()


# ---------------------------------------------------------------------------------------------
# the sync loop


@dataclass(frozen=True)
class SyncStats:
    """What one pass did."""

    #: event-file objects found in the bucket
    listed: int
    #: files fetched in this pass
    downloaded: int
    #: bytes fetched in this pass
    downloaded_bytes: int
    #: local files removed because their object is gone
    removed: int
    #: objects that vanished between the listing and their download
    skipped: int
    seconds: float


class EventFileSync:
    """Mirror every run's event files from object storage into ``logdir/<run_id>/``."""

    def __init__(self, store: ArtifactStore, logdir: Path | str) -> None:
        """Mirror ``store``'s event files into ``logdir``.

        Args:
            store: The artifact store the training jobs upload to.
            logdir: The folder TensorBoard serves (created).
        """
        self.store = store
        self.logdir = Path(logdir).resolve()
        self.logdir.mkdir(parents=True, exist_ok=True)

    def wanted(self) -> dict[str, Path]:
        """Every event-file object of the bucket -> its local path (one listing)."""
        out: dict[str, Path] = {}
        for key in self.store.list_keys("runs/"):
            match = _EVENT_KEY.match(key)
            if match is None:
                continue
            path = (self.logdir / match["run"] / match["rest"]).resolve()
            if self.logdir not in path.parents:  # never outside the folder (keys are validated)
                continue
            out[key] = path
        return out

    def local_files(self) -> set[Path]:
        """Every file the sync owns below ``logdir`` (the run folders)."""
        return {p for p in self.logdir.rglob("*") if p.is_file() and p.parent != self.logdir}

    def sync_once(self) -> SyncStats:
        """One pass: fetch new files, remove files whose object is gone."""
        start = time.monotonic()
        wanted = self.wanted()
        downloaded = size = skipped = 0
        for key, path in wanted.items():
            if path.exists():
                continue
            partial = self.logdir / f"{_PARTIAL}{uuid.uuid4().hex}"
            try:
                info = self.store.download_file(key, partial)
            except ArtifactNotFound:
                skipped += 1
                continue
            except BaseException:
                with contextlib.suppress(OSError):
                    partial.unlink()
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, path)
            downloaded += 1
            size += info.size
        keep = set(wanted.values())
        removed = 0
        for path in self.local_files() - keep:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        for folder in sorted((p for p in self.logdir.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):  # only empty folders go
                folder.rmdir()
        for stale in self.logdir.glob(f"{_PARTIAL}*"):  # left by a crash mid-download
            with contextlib.suppress(OSError):
                stale.unlink()
        return SyncStats(len(wanted), downloaded, size, removed, skipped, time.monotonic() - start)

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """Pass every ``interval`` seconds until ``stop`` is set; a failed pass is logged."""
        while not stop.is_set():
            try:
                stats = self.sync_once()
            except (ArtifactError, OSError) as exc:
                log.warning("tensorboard.sync_failed", error=str(exc))
            else:
                if stats.downloaded or stats.removed:
                    log.info(
                        "tensorboard.synced",
                        files=stats.listed,
                        downloaded=stats.downloaded,
                        downloaded_bytes=stats.downloaded_bytes,
                        removed=stats.removed,
                        seconds=round(stats.seconds, 3),
                    )
            stop.wait(interval)


# ---------------------------------------------------------------------------------------------
# the component


def tensorboard_argv(logdir: Path, host: str, port: int) -> list[str]:
    """TensorBoard's command line for the component."""
    return [
        "tensorboard",
        "--logdir",
        str(logdir),
        "--path_prefix",
        PATH_PREFIX,
        "--host",
        host,
        "--port",
        str(port),
        "--load_fast",
        "false",
        "--reload_interval",
        "5",
        # every file of a run, not only its newest: a pass may land a run's files while
        # TensorBoard reloads, and a file that sorts before the one it reads would be skipped
        "--reload_multifile",
        "true",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Start the sync loop (a daemon thread) and serve TensorBoard in this process."""
    from tensorboard import program

    from tradeopt_common.storage.configured import store_from_settings
    from tradeopt_training.config import get_training_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    settings = get_training_settings()
    configure_logging(settings.log_level, settings.log_json, log_file=settings.log_file)
    logdir = settings.tensorboard_logdir()
    sync = EventFileSync(store_from_settings(settings), logdir)
    stop = threading.Event()
    thread = threading.Thread(
        target=sync.run_forever,
        args=(settings.tensorboard_sync_seconds, stop),
        name="tensorboard-sync",
        daemon=True,
    )
    thread.start()
    log.info(
        "tensorboard.started",
        logdir=str(logdir),
        port=args.port,
        sync_seconds=settings.tensorboard_sync_seconds,
    )
    board = program.TensorBoard()
    board.configure(argv=tensorboard_argv(logdir, args.host, args.port))
    try:
        board.main()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
