"""Throwaway infrastructure of the soak: a PostgreSQL cluster and a Redis server on spare loopback
ports (both restartable: that is the fault), and the local fleet (``scripts/fleet.sh``) against
them, with its own S3, run dir and ports. Nothing of the machine's PostgreSQL (5432), Redis (6379)
or a developer's fleet (:8080, ``.run``) is touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLEET_SH = REPO / "scripts" / "fleet.sh"
GRPC_OFFSET = 10000  # SeaweedFS dials <http port> + 10000 for gRPC peers (see fleetctl)

sys.path.insert(0, str(REPO))
from scripts.manifest.model import load as load_manifest  # noqa: E402


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` right now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Ports:
    """Spare loopback ports, never the same one twice."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def one(self) -> int:
        """A spare port."""
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in self.taken:
                self.taken.add(port)
                return port

    def s3_block(self) -> int:
        """P such that P..P+4 and P+10000..P+10004 are free (weed mini's ports)."""
        rng = random.SystemRandom()
        for _ in range(500):
            base = rng.randint(20000, 65535 - GRPC_OFFSET - 5)
            block = [base + i for i in range(5)] + [base + GRPC_OFFSET + i for i in range(5)]
            if any(p in self.taken for p in block) or not all(port_free(p) for p in block):
                continue
            self.taken.update(block)
            return base
        raise RuntimeError("no free port block for the S3 server")


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until truthy; return its value, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")


class PostgresCluster:
    """``initdb`` + ``pg_ctl`` in a temp dir on a spare port (trust auth, user ``postgres``).
    Run as the ``postgres`` system user when this process is root (initdb refuses root).
    """

    def __init__(self, workdir: Path, port: int) -> None:
        self.bin = _pg_bin()
        self.port = port
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.as_user: str | None = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
            pwd.getpwnam(self.as_user)  # KeyError: no such user

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )

    def init(self) -> PostgresCluster:
        """``initdb`` the cluster (trust auth, loopback, this port)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            info = pwd.getpwnam(self.as_user)
            os.chown(self.dir, info.pw_uid, info.pw_gid)
            # the postgres user must be able to reach the directory
            for parent in self.dir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    with contextlib.suppress(PermissionError):
                        os.chmod(parent, mode | 0o001)
        out = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.stdout}{out.stderr}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# tradeopt soak: loopback only, a spare port, fast and disposable\n"
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.dir}'\n"
                # fsync off only loses data when the OS crashes, never when PostgreSQL does;
                # synchronous_commit stays on: with it off an immediate stop loses commits that
                # were acknowledged (the soak saw a finished job come back as running).
                "fsync = off\n"
                "max_connections = 200\nshared_buffers = 64MB\n"
            )
        return self

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the soak's database in this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/tradeopt_soak"

    def create_database(self, name: str = "tradeopt_soak") -> str:
        """Create a database; returns its SQLAlchemy (asyncpg) URL."""
        import asyncio

        import asyncpg

        async def _go() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=self.port, user="postgres", database="postgres"
            )
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(_go())
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """``pg_ctl start``, waiting until it accepts connections."""
        out = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
        )
        if out.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{out.stdout}{out.stderr}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (clean) or ``immediate`` (like a crash: recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop (``mode``) and start again: every client connection is dropped."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        """Whether the cluster's postmaster runs."""
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def destroy(self) -> None:
        """Stop the cluster (if running) and delete its files."""
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throwaway redis-server on a spare loopback port, no persistence: a restart loses every
    queued message, as a Redis without AOF/RDB would.
    """

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.dir = workdir / "redis"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Redis URL (db 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again, on the same port) and wait until it answers."""
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            try:
                return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
            except redis.RedisError:
                return False

        wait_until(up, 15, 0.05, "redis-server")

    def stop(self) -> None:
        """SIGKILL: nothing is saved (there is nothing to save)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        """Kill and start again on the same port: every queued message is gone."""
        self.stop()
        self.start()


def fleet_sh(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/fleet.sh ARGS`` with ``env`` (output captured, never raises on failure)."""
    return subprocess.run(
        ["bash", str(FLEET_SH), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def supervisorctl(run_dir: Path, *args: str) -> str:
    """Run supervisorctl against the fleet rendered in ``run_dir``; its output."""
    out = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "supervisorctl"),
            "-c",
            str(run_dir / "supervisord.conf"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout.strip()


class Fleet:
    """``scripts/fleet.sh up|down`` in its own run dir, ports, S3, against the throwaway
    PostgreSQL and Redis (the same machinery as ``tests/e2e/conftest.py``).
    """

    def __init__(
        self,
        run_dir: Path,
        ports: Ports,
        db_url: str,
        redis_url: str,
        api_key: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        manifest = load_manifest(REPO)
        self.services = [s.name for s in manifest.built()]
        self.run_dir = run_dir
        self.gateway_port = ports.one()
        self.ports = {s.name: ports.one() for s in manifest.built()}
        #: the tensorboard component's port (never the default 6006 of a developer's fleet)
        self.tensorboard_port = ports.one()
        self.s3_port = ports.s3_block()
        self.api_key = api_key
        per_service = {
            f"{s.upper}_{suffix}"
            for s in manifest.services
            for suffix in ("PORT", "API_PORT", "UPSTREAM")
        }
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRADING_OPT_", "FLEET_", "S3_", "AWS_"))
            and k
            not in {
                "GATEWAY_PORT",
                "DASHBOARD_ROOT",
                "TENSORBOARD_PORT",
                "TENSORBOARD_UPSTREAM",
                *per_service,
            }
        }
        env.update(
            {
                "FLEET_RUN_DIR": str(run_dir),
                "FLEET_ENV_FILE": "",
                "FLEET_S3": "on",
                "FLEET_TIMEOUT": "120",
                "GATEWAY_PORT": str(self.gateway_port),
                **{f"{s.upper}_PORT": str(self.ports[s.name]) for s in manifest.built()},
                "TENSORBOARD_PORT": str(self.tensorboard_port),
                "S3_PORT": str(self.s3_port),
                "TRADING_OPT_ENV": "test",
                "TRADING_OPT_API_KEY": api_key,
                "TRADING_OPT_DB_URI": db_url,
                "TRADING_OPT_REDIS_URI": redis_url,
                "TRADING_OPT_STORAGE_BUCKET": "tradeopt-soak",
                "TRADING_OPT_DATA_DIR": str(run_dir / "data"),
                "TRADING_OPT_LOG_JSON": "true",
                "TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS": "2",
                **(extra_env or {}),
            }
        )
        self.env = env

    @property
    def gateway(self) -> str:
        """The gateway's base URL."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/fleet.sh ARGS`` with the fleet's environment."""
        return fleet_sh(self.env, *args, timeout=timeout)

    def up(self) -> None:
        """``fleet.sh up``; raises with its output when it fails."""
        out = self.sh("up")
        if out.returncode != 0:
            raise RuntimeError(f"fleet.sh up failed:\n{out.stdout}{out.stderr}")

    def down(self) -> subprocess.CompletedProcess[str]:
        """``fleet.sh down``."""
        return self.sh("down")

    def supervisorctl(self, *args: str) -> str:
        """Run supervisorctl with the fleet's rendered config; its output."""
        return supervisorctl(self.run_dir, *args)

    def pid(self, program: str) -> int | None:
        """The pid of a running program, or None."""
        out = self.supervisorctl("pid", program)
        return int(out) if out.isdigit() and int(out) > 0 else None

    def kill_program(self, program: str) -> int | None:
        """SIGKILL a program's process (supervisord restarts it). Returns the pid killed."""
        pid = self.pid(program)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    def log_files(self, pattern: str = "*.log") -> list[Path]:
        """The fleet's log files matching ``pattern``."""
        return sorted((self.run_dir / "logs").glob(pattern))
