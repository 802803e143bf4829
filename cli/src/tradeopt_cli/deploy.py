"""``tradeopt deploy``: build, push and roll out a release.

A thin wrapper over ``scripts/deploy.sh`` (the same script ``make deploy`` runs), so there is one
implementation of the build/push/apply steps and of the input validation.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

#: Repository root of an editable install (cli/src/tradeopt_cli/deploy.py -> repo).
_REPO = Path(__file__).resolve().parents[3]


def deploy_script() -> Path:
    """Path of ``scripts/deploy.sh``: ``$TRADEOPT_REPO`` or the checkout this CLI runs from."""
    root = Path(os.environ.get("TRADEOPT_REPO", _REPO))
    return root / "scripts" / "deploy.sh"


def deploy_argv(
    target: str,
    version: str,
    registry: str | None = None,
    overlay: str = "prod",
    env_file: str | None = None,
    dry_run: bool = False,
    skip_build: bool = False,
) -> list[str]:
    """The ``bash scripts/deploy.sh ...`` command line for these options."""
    argv = ["bash", str(deploy_script()), "--target", target, "--version", version]
    if registry:
        argv += ["--registry", registry]
    argv += ["--overlay", overlay]
    if env_file:
        argv += ["--env-file", env_file]
    if skip_build:
        argv.append("--skip-build")
    if dry_run:
        argv.append("--dry-run")
    return argv


def deploy(
    target: Annotated[str, typer.Option(help="compose (one Docker host) or k8s (kubectl -k).")],
    version: Annotated[str, typer.Option(help="Release version X.Y.Z (image tag).")],
    registry: Annotated[
        str | None, typer.Option(help="Registry prefix, e.g. ghcr.io/acme (push target).")
    ] = None,
    overlay: Annotated[str, typer.Option(help="k8s/overlays/<name> for --target k8s.")] = "prod",
    env_file: Annotated[
        str | None, typer.Option(help="Compose env file with the secrets (default .env).")
    ] = None,
    skip_build: Annotated[
        bool, typer.Option("--skip-build", help="Use already built/pushed images.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the commands and the rendered manifest only.")
    ] = False,
) -> None:
    """Build, tag and push the images, then apply them with docker compose or kubectl."""
    script = deploy_script()
    if not script.is_file():
        typer.echo(
            f"error: {script} not found; run from a repository checkout or set TRADEOPT_REPO",
            err=True,
        )
        raise typer.Exit(2)
    argv = deploy_argv(target, version, registry, overlay, env_file, dry_run, skip_build)
    code = subprocess.run(argv, cwd=script.parents[1], check=False).returncode
    raise typer.Exit(code)
