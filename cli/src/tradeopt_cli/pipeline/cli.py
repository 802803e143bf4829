"""``tradeopt pipeline run|submit``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tradeopt_cli.pipeline.config import ConfigError, PipelineConfig, load_config

pipeline_app = typer.Typer(
    help="Declarative pipelines: dataset → features → train → tune → evaluate.",
    no_args_is_help=True,
)


def _load(path: Path) -> PipelineConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@pipeline_app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="Pipeline YAML file.")],
    summary: Annotated[
        Path | None, typer.Option(help="Also write the results as JSON to this file.")
    ] = None,
) -> None:
    """Run the pipeline in this process on embedded defaults (SQLite + local artifact folder
    unless TRADING_OPT_DB_URI / TRADING_OPT_STORAGE_ENDPOINT say otherwise).
    """
    from tradeopt_cli.pipeline.local import PipelineError, run_pipeline

    console = Console(width=None if sys.stdout.isatty() else 200)
    cfg = _load(config)
    try:
        run_pipeline(cfg, console=console, summary_path=summary)
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@pipeline_app.command("submit")
def submit(
    config: Annotated[Path, typer.Argument(help="Pipeline YAML file.")],
    api: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://localhost:8080",
    api_key: Annotated[
        str | None, typer.Option(envvar="TRADING_OPT_API_KEY", help="Bearer API key.")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between status polls.")] = 1.0,
    timeout: Annotated[float, typer.Option(min=1, help="Give up after this many seconds.")] = 3600,
) -> None:
    """Submit the same pipeline to a running fleet over HTTP and wait with progress bars."""
    from tradeopt_cli.pipeline.remote import RemoteError, submit_pipeline

    console = Console(width=None if sys.stdout.isatty() else 200)
    cfg = _load(config)
    try:
        submit_pipeline(cfg, api=api, api_key=api_key, console=console, poll=poll, timeout=timeout)
    except RemoteError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
