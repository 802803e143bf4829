"""The local fleet (`make dev`) as a fixture: ``scripts/fleet.sh up`` in a temp run dir, on spare
ports, against a dedicated database (``tradeopt_e2e``) and Redis db 14, so that a developer's own
fleet (``.run``, :8080) is never touched. Always ``fleet.sh down`` afterwards.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from scripts.manifest.model import load as load_manifest
from scripts.soak.infra import fleet_sh, port_free, supervisorctl
from tests.support.databases import drop_database, pg_url_for, recreate_database

REPO = Path(__file__).resolve().parents[2]
FLEET_SH = REPO / "scripts" / "fleet.sh"
E2E_DB = os.environ.get("TRADEOPT_E2E_DB", "tradeopt_e2e")
E2E_REDIS = os.environ.get("TRADEOPT_E2E_REDIS", "redis://127.0.0.1:6379/14")
E2E_API_KEY = "e2e-bootstrap-key-0123456789abcdef"
GRPC_OFFSET = 10000
SUPERVISORCTL = str(Path(sys.executable).parent / "supervisorctl")
#: services.yaml: the fleet runs every built service; the environment of the test fleet sets or
#: clears each service's variables (a planned service's too: nothing of the developer's leaks in).
MANIFEST = load_manifest(REPO)


def service_env_vars() -> set[str]:
    """The per-service variables fleet.sh/fleetctl read (``<SVC>_PORT``, the older
    ``<SVC>_API_PORT``, ``<SVC>_UPSTREAM``), for every service of the manifest."""
    return {
        f"{s.upper}_{suffix}"
        for s in MANIFEST.services
        for suffix in ("PORT", "API_PORT", "UPSTREAM")
    }


def load_fleetctl():
    """scripts/fleet/fleetctl.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "fleetctl", REPO / "scripts" / "fleet" / "fleetctl.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port(taken: set[int]) -> int:
    """A free loopback port, not in ``taken``."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def free_s3_base(taken: set[int]) -> int:
    """P such that P..P+4 and P+10000..P+10004 are free: weed mini's ports (see fleetctl)."""
    rng = random.SystemRandom()
    for _ in range(500):
        base = rng.randint(20000, 65535 - GRPC_OFFSET - 5)
        ports = [base + i for i in range(5)] + [base + GRPC_OFFSET + i for i in range(5)]
        if any(p in taken for p in ports) or not all(port_free(p) for p in ports):
            continue
        taken.update(ports)
        return base
    raise RuntimeError("no free port block for the S3 server")


@dataclass
class Fleet:
    """A running fleet under test."""

    run_dir: Path
    env: dict[str, str]
    gateway_port: int
    #: built service -> its API port in this fleet (and ``optuna-dashboard``, ``tensorboard``)
    ports: dict[str, int]
    s3_port: int
    api_key: str
    up_output: str = ""
    seen_pids: set[int] = field(default_factory=set)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def sh(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/fleet.sh ARGS`` with the fleet's environment."""
        return fleet_sh(self.env, *args, timeout=timeout)

    def supervisorctl(self, *args: str) -> str:
        """supervisorctl with the fleet's rendered config."""
        return supervisorctl(self.run_dir, *args)

    def pids(self) -> list[int]:
        """Every process of this fleet right now (supervisord, programs and their children)."""
        found = load_fleetctl().fleet_pids(self.run_dir)
        self.seen_pids.update(found)
        return found

    def logs(self, lines: int = 60) -> str:
        """Tails of every log of the fleet, for failure messages."""
        out = []
        for path in sorted((self.run_dir / "logs").glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {path.name} -----\n" + "\n".join(text))
        return "\n".join(out)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """``fleet.sh up`` on spare ports, once for every e2e module (a start costs 1-3 minutes on 2
    cores); ``fleet.sh down`` and no leftover process afterwards. Tests never assume a fresh
    fleet: they create what they need and find it by id.
    """
    asyncio.run(recreate_database(E2E_DB))
    asyncio.run(drop_database(f"{E2E_DB}_optuna"))
    redis.Redis.from_url(E2E_REDIS).flushdb()

    run_dir = tmp_path_factory.mktemp("fleet")
    taken: set[int] = set()
    gateway_port = free_port(taken)
    ports = {s.name: free_port(taken) for s in MANIFEST.built()}
    ports["optuna-dashboard"] = free_port(taken)
    ports["tensorboard"] = free_port(taken)
    s3_port = free_s3_base(taken)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRADING_OPT_", "FLEET_", "S3_", "AWS_"))
        and k
        not in {
            "GATEWAY_PORT",
            "DASHBOARD_ROOT",
            "API_DOCS_ROOT",
            "SWAGGER_UI_ROOT",
            "OPTUNA_DASHBOARD_PORT",
            "OPTUNA_DASHBOARD_UPSTREAM",
            "TENSORBOARD_PORT",
            "TENSORBOARD_UPSTREAM",
            *service_env_vars(),
        }
    }
    env.update(
        {
            "FLEET_RUN_DIR": str(run_dir),
            "FLEET_ENV_FILE": "",  # the developer's .env does not leak into the test fleet
            "FLEET_S3": "on",
            # (raise it on a loaded machine: TRADEOPT_E2E_FLEET_TIMEOUT)
            "FLEET_TIMEOUT": os.environ.get("TRADEOPT_E2E_FLEET_TIMEOUT", "240"),
            "GATEWAY_PORT": str(gateway_port),
            **{f"{s.upper}_PORT": str(ports[s.name]) for s in MANIFEST.built()},
            "OPTUNA_DASHBOARD_PORT": str(ports["optuna-dashboard"]),
            "TENSORBOARD_PORT": str(ports["tensorboard"]),
            # the component's sync loop: quick in tests (30 s by default)
            "TRADING_OPT_TENSORBOARD_SYNC_SECONDS": "1",
            "S3_PORT": str(s3_port),
            "TRADING_OPT_ENV": "test",
            "TRADING_OPT_API_KEY": E2E_API_KEY,
            "TRADING_OPT_DB_URI": pg_url_for(E2E_DB),
            "TRADING_OPT_REDIS_URI": E2E_REDIS,
            "TRADING_OPT_STORAGE_BUCKET": "tradeopt-e2e",
            "TRADING_OPT_DATA_DIR": str(run_dir / "data"),
            "TRADING_OPT_LOG_JSON": "false",
            # An idle worker waits this long on shutdown; keep `down` quick.
            "TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS": "2",
        }
    )
    fleet = Fleet(run_dir, env, gateway_port, ports, s3_port, E2E_API_KEY)
    try:
        up = fleet.sh("up")
        fleet.up_output = up.stdout + up.stderr
        assert up.returncode == 0, f"fleet.sh up failed:\n{fleet.up_output}\n{fleet.logs()}"
        fleet.pids()
        yield fleet
    finally:
        fleet.pids()
        down = fleet.sh("down")
        leftovers = [pid for pid in fleet.pids() if _alive(pid)]
        still = [pid for pid in sorted(fleet.seen_pids) if _alive(pid)]
        asyncio.run(drop_database(E2E_DB))
        asyncio.run(drop_database(f"{E2E_DB}_optuna"))  # the tuning service's Optuna storage
        assert down.returncode == 0, f"fleet.sh down failed:\n{down.stdout}{down.stderr}"
        assert not leftovers and not still, (
            f"processes of the fleet survived `fleet.sh down`: {leftovers or still}"
        )
