"""The guardrails of `make lint` / `make test`: import contracts and mypy.

The service-dependent contracts are generated from services.yaml (`make generate`); they name
every built service (so a new service is covered the day it lands), and the
checks really fail when a contract is broken: a copy of ``tradeopt_ml`` that imports
``tradeopt_common`` is put first on the path and lint-imports must refuse it.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

from scripts.manifest.generate import PRIVATE_MODULES
from tests.deploy.support import MANIFEST, ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LIBS = ["tradeopt_common", "tradeopt_ml"]


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.strip().splitlines() if line.strip()]


def test_contracts_cover_every_built_service() -> None:
    parser = contracts()
    services = sorted(s.package for s in MANIFEST.built())
    roots = lines(parser["importlinter"]["root_packages"])
    assert sorted(roots) == sorted([*LIBS, "tradeopt_cli", *services])
    layers = lines(parser["importlinter:contract:layers"]["layers"])
    assert layers[0] == "tradeopt_cli"
    assert sorted(p.strip() for p in layers[1].split("|")) == services, (
        "every built service is one independent layer between the CLI and the libraries"
    )
    assert layers[2:] == LIBS
    private = {f"{pkg}.{m}" for pkg in services for m in PRIVATE_MODULES}
    cli_forbidden = set(
        lines(parser["importlinter:contract:cli-through-public-modules"]["forbidden_modules"])
    )
    assert private == cli_forbidden, "the CLI contract names every built service's private modules"
    base_image = sorted(s.package for s in MANIFEST.built() if s.image == "base")
    no_torch = lines(parser["importlinter:contract:base-image-services"]["source_modules"])
    assert sorted(no_torch) == base_image


def _lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_lint_imports_passes_on_the_tree() -> None:
    out = _lint_imports()
    assert out.returncode == 0, out.stdout + out.stderr


def test_lint_imports_refuses_a_library_that_imports_the_core(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "libs/ml/src/tradeopt_ml", tmp_path / "tradeopt_ml")
    (tmp_path / "tradeopt_ml" / "leak.py").write_text("import tradeopt_common.jobs\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert "tradeopt_ml.leak -> tradeopt_common" in out.stdout, out.stdout
