"""Real processes for integration tests: Celery workers and beat, throwaway Redis servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from scripts.soak.infra import wait_until

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; return it or fail the test after
    ``timeout`` (the soak's :func:`~scripts.soak.infra.wait_until`, as a test failure).
    """
    try:
        return wait_until(predicate, timeout, interval, what)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


class ManagedProcess:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (worker and pool children)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None:
            return
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.proc.wait(5)


def stop_all(procs: list[ManagedProcess], timeout: float = 15) -> None:
    """Stop ``procs`` together: SIGTERM to every one first, then wait for each (SIGKILL to any
    still running after ``timeout``). The same end as calling ``stop()`` on each, but the soft
    shutdowns overlap instead of adding up."""
    running = [p for p in procs if p.proc is not None]
    for proc in running:
        proc.kill(signal.SIGTERM)
    for proc in running:
        assert proc.proc is not None
        try:
            proc.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill(signal.SIGKILL)
            proc.proc.wait(5)


def celery_worker(
    app: str, queues: str, env: dict[str, str], log_dir: Path, name: str = "worker"
) -> ManagedProcess:
    """A one-thread Celery worker (threads pool, one process: kill -9 takes the job with it;
    SIGTERM's soft shutdown lets the running task continue while the main thread waits)."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "-Q",
        queues,
        "--pool=threads",
        "--concurrency=1",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"{name}-{os.getpid()}@%h",
    ]
    return ManagedProcess(name, argv, {**env, "REMAP_SIGTERM": "SIGQUIT"}, log_dir)


def wait_worker_ready(worker: ManagedProcess, timeout: float = 60) -> None:
    """Wait until the worker logs that it is ready."""

    def ready() -> bool:
        if not worker.alive():
            raise AssertionError(f"{worker.name} exited:\n{worker.log()[-3000:]}")
        return " ready." in worker.log()

    wait_for(ready, timeout, 0.2, f"{worker.name} ready")


def celery_beat(env: dict[str, str], log_dir: Path) -> ManagedProcess:
    """The fleet's beat (reaper schedule), with its schedule file in ``log_dir``."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tradeopt_common.jobs.beat:celery_app",
        "beat",
        "--loglevel=INFO",
        "--schedule",
        str(log_dir / "celerybeat-schedule"),
    ]
    return ManagedProcess("beat", argv, env, log_dir)


class KeepAlive:
    """Restarts a process whenever it exits, as supervisor or Kubernetes would."""

    def __init__(self, factory, log_dir: Path) -> None:
        self.factory, self.log_dir = factory, log_dir
        self.current: ManagedProcess | None = None
        self.starts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> KeepAlive:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.current is None or not self.current.alive():
                self.starts += 1
                self.current = self.factory(self.starts).start()
            self._stop.wait(0.3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.current is not None:
            self.current.stop()
