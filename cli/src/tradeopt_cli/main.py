"""``tradeopt``: admin and scripting commands (migrations, API keys, jobs, storage, demo)."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_cli.dbstate import UPGRADE_COMMAND, explain_failure, shown_url
from tradeopt_cli.deploy import deploy as deploy_command
from tradeopt_cli.pipeline.cli import pipeline_app
from tradeopt_cli.strategy import strategy_app
from tradeopt_common.asyncutil import run_sync
from tradeopt_common.auth import keys as api_keys
from tradeopt_common.config import get_settings
from tradeopt_common.db.session import Database
from tradeopt_common.errors import AppError
from tradeopt_common.jobs import service as jobs_service
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.logging import configure_logging

T = TypeVar("T")
app = typer.Typer(help="tradeopt: trading optimization pipeline.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys (stored hashed; the key is shown once).", no_args_is_help=True
)
jobs_app = typer.Typer(help="Job records.", no_args_is_help=True)
storage_app = typer.Typer(help="Artifact storage.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(storage_app, name="storage")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(strategy_app, name="strategy")
app.command("deploy")(deploy_command)


def _console() -> Console:
    """A console on the current stdout; wide when piped, so ids and names are never cut."""
    return Console(width=None if sys.stdout.isatty() else 200)


@app.callback()
def _setup() -> None:
    s = get_settings()
    configure_logging("WARNING" if s.log_level.upper() == "INFO" else s.log_level, s.log_json)


def _database() -> str:
    """The configured database URL, and say on stderr which one an admin command uses (the
    password hidden): without ``TRADING_OPT_DB_URI`` it is the embedded demo SQLite, which a
    running fleet does not read — a key created there is unknown to the fleet.
    """
    settings = get_settings()
    shown = shown_url(settings.db_uri)
    note = ""
    if not os.environ.get("TRADING_OPT_DB_URI"):
        note = " (TRADING_OPT_DB_URI is unset: the embedded demo database, not a fleet's)"
    typer.echo(f"database: {shown}{note}", err=True)
    return settings.db_uri


def _with_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``fn`` in one unit of work against the configured database (named on stderr)."""
    url = _database()

    async def _go() -> T:
        db = Database(url)
        try:
            async with db.unit_of_work() as session:
                return await fn(session)
        finally:
            await db.dispose()

    with _database_errors(url):
        try:
            return run_sync(_go())
        except AppError as exc:
            _console().print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(1) from exc


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that is not migrated or cannot be reached: one clear line on stderr and exit
    code 1, never a traceback.
    """
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        typer.echo(f"error: {explain_failure(url, exc)}", err=True)
        raise typer.Exit(1) from exc


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision of every tree.")] = "head",
) -> None:
    """Migrate the core schema and every installed service's schema."""
    from tradeopt_common.db.migrations import current, upgrade

    url = _database()
    with _database_errors(url):
        upgrade(url, revision=revision)
        revisions = current(url)
    for tree, rev in revisions.items():
        _console().print(f"{tree}: {rev}")


@db_app.command("current")
def db_current() -> None:
    """Show the current revision of every migration tree."""
    from tradeopt_common.db.migrations import current

    url = _database()
    with _database_errors(url):
        revisions = current(url)
    for tree, rev in revisions.items():
        _console().print(f"{tree}: {rev or f'not migrated (run `{UPGRADE_COMMAND}`)'}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what uses the key.")],
    scope: Annotated[
        list[api_keys.Scope] | None,
        typer.Option("--scope", "-s", help="read, write or admin (repeatable; default read)."),
    ] = None,
) -> None:
    """Create an API key and print it once."""
    scopes = scope or [api_keys.Scope.READ]
    row, key = _with_session(lambda s: api_keys.create_key(s, name, scopes))
    _console().print(f"id:     {row.id}\nprefix: {row.prefix}\nscopes: {', '.join(row.scopes)}")
    _console().print("key (shown once, store it now):")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List API keys (never the keys themselves)."""
    rows = _with_session(lambda s: api_keys.list_keys(s, include_revoked=all_))
    table = Table("name", "prefix", "scopes", "created", "revoked")
    table.add_column("id", no_wrap=True, min_width=36)
    for r in rows:
        table.add_row(
            r.name,
            r.prefix,
            ",".join(r.scopes),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
            str(r.id),
        )
    _console().print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix.")]) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    row = _with_session(lambda s: api_keys.revoke_key(s, key))
    _console().print(f"revoked {row.prefix} ({row.name})")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Recent jobs, newest first."""

    async def _q(session: AsyncSession) -> list[Job]:
        stmt = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(Job.status == status)
        return list((await session.execute(stmt)).scalars())

    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=36)
    for name in ("kind", "status", "progress", "attempts", "created", "message"):
        table.add_column(name)
    for j in _with_session(_q):
        table.add_row(
            str(j.id),
            j.kind,
            j.status,
            f"{j.progress:.0%}",
            f"{j.attempts}/{j.max_attempts}",
            f"{j.created_at:%Y-%m-%d %H:%M:%S}",
            (j.error or j.message or "")[:60],
        )
    _console().print(table)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[uuid.UUID, typer.Argument(help="Job id.")]) -> None:
    """One job, as JSON."""
    from tradeopt_common.jobs.schemas import JobRead

    job = _with_session(lambda s: jobs_service.get_job(s, job_id))
    typer.echo(json.dumps(JobRead.model_validate(job).model_dump(mode="json"), indent=2))


@storage_app.command("init")
def storage_init() -> None:
    """Create the bucket (or local folder) if missing."""
    from tradeopt_common.storage.init import init_storage

    settings = get_settings()
    if not settings.storage_endpoint:
        typer.echo(
            "storage: the local artifact folder (TRADING_OPT_STORAGE_ENDPOINT is unset: not a "
            "fleet's bucket)",
            err=True,
        )
    where = init_storage(settings)
    _console().print(f"storage ready: {where}")


@app.command("demo")
def demo(
    symbol: Annotated[str, typer.Option(help="Bundled sample to ingest.")] = "SPY",
) -> None:
    """Run the data-service slice in-process on embedded defaults (SQLite, local folder)."""
    from tradeopt_cli.demo import run_demo

    run_demo(symbol)


if __name__ == "__main__":
    app()
