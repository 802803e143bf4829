"""Helpers for the offline infrastructure checks: paths, tools, subprocesses, Dockerfiles.

Tools come from scripts/install-system-deps.sh. A missing tool fails the test with the install
hint; nothing is skipped silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.manifest.model import load as load_manifest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-system-deps.sh (CI does)"


def find_tool(name: str) -> str:
    """Path of an executable on PATH or next to this interpreter (venv scripts), or fail."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"`{name}` is not installed: {INSTALL_HINT}", pytrace=False)
    return found


def run(
    cmd: list[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it exits non-zero."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n"
            f"{proc.stderr}",
            pytrace=False,
        )
    return proc


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse(path: Path) -> Dockerfile:
    """A small Dockerfile parser: continuations joined, comments dropped, stages split."""
    logical: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            if keyword == "ARG":
                key, _, value = args.partition("=")
                global_args[key.strip()] = value.strip()
        else:
            stages[-1].instructions.append((keyword, args.strip()))
    return Dockerfile(path, global_args, stages)


def resolve(ref: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), ref)


#: The data service's processes exactly as the brief specifies them (compose and k8s must agree).
DATA_API_ARGV = [
    "uvicorn",
    "tradeopt_data.app:create_app",
    "--factory",
    "--host",
    "0.0.0.0",
    "--port",
    "8001",
]
DATA_WORKER_ARGV = [
    "celery",
    "-A",
    "tradeopt_data.worker:celery_app",
    "worker",
    "-Q",
    "data,maintenance",
    "--pool=threads",
    "--concurrency=2",
    "--loglevel=INFO",
]

#: The training service's processes (DESIGN §1): same flags as data, but one run per worker
#: process (CPU-bound runs hold the GIL; scale with replicas) on its own queue.
TRAINING_API_ARGV = [
    "uvicorn",
    "tradeopt_training.app:create_app",
    "--factory",
    "--host",
    "0.0.0.0",
    "--port",
    "8002",
]
TRAINING_WORKER_ARGV = [
    "celery",
    "-A",
    "tradeopt_training.worker:celery_app",
    "worker",
    "-Q",
    "training,maintenance",
    "--pool=threads",
    "--concurrency=1",
    "--loglevel=INFO",
]
#: The evaluation service's processes (DESIGN §1): CPU-bound but short jobs, one per worker
#: process like training, on its own queue.
TUNING_API_ARGV = [
    "uvicorn",
    "tradeopt_tuning.app:create_app",
    "--factory",
    "--host",
    "0.0.0.0",
    "--port",
    "8003",
]
TUNING_WORKER_ARGV = [
    "celery",
    "-A",
    "tradeopt_tuning.worker:celery_app",
    "worker",
    "-Q",
    "tuning,maintenance",
    "--pool=threads",
    "--concurrency=4",
    "--loglevel=INFO",
]
EVALUATION_API_ARGV = [
    "uvicorn",
    "tradeopt_evaluation.app:create_app",
    "--factory",
    "--host",
    "0.0.0.0",
    "--port",
    "8004",
]
EVALUATION_WORKER_ARGV = [
    "celery",
    "-A",
    "tradeopt_evaluation.worker:celery_app",
    "worker",
    "-Q",
    "evaluation,maintenance",
    "--pool=threads",
    "--concurrency=1",
    "--loglevel=INFO",
]
STRATEGY_API_ARGV = [
    "uvicorn",
    "tradeopt_strategy.app:create_app",
    "--factory",
    "--host",
    "0.0.0.0",
    "--port",
    "8005",
]
STRATEGY_WORKER_ARGV = [
    "celery",
    "-A",
    "tradeopt_strategy.worker:celery_app",
    "worker",
    "-Q",
    "strategy,maintenance",
    "--pool=threads",
    "--concurrency=2",
    "--loglevel=INFO",
]
MIGRATE_ARGV = ["python", "-m", "tradeopt_common.db.upgrade"]
#: Built services of services.yaml -> (API port, queue), DESIGN §1. Every deployment target must
#: cover them (tests/deploy/test_manifest.py checks each place against the whole manifest).
MANIFEST = load_manifest(ROOT)
SERVICES = {s.name: (s.port, s.queues[0]) for s in MANIFEST.built()}
#: Planned services: nothing may deploy them.
PLANNED = [s.name for s in MANIFEST.planned()]
#: Minimum soft-shutdown window of training workers (long runs reach their next checkpoint).
TRAINING_SOFT_SHUTDOWN_MIN = 300


def known_settings() -> set[str]:
    """Field names of CommonSettings and of every built service's settings class (found by
    convention: ``<package>.config`` defines one ``CommonSettings`` subclass): what a
    TRADING_OPT_* variable may name (a typo or a setting nobody reads fails the checks)."""
    import importlib
    import inspect

    from tradeopt_common.config import CommonSettings

    fields = set(CommonSettings.model_fields)
    for service in MANIFEST.built():
        module = importlib.import_module(f"{service.package}.config")
        classes = [
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, CommonSettings) and c is not CommonSettings
        ]
        assert classes, f"{service.package}.config defines no CommonSettings subclass"
        for cls in classes:
            fields |= set(cls.model_fields)
    return fields
