"""Alembic glue: one migration tree per owner (``core`` plus one per service), each with its own
schema and version table, upgraded in dependency order by :func:`upgrade`.

Every tree's ``env.py`` is two lines: import the models, call :func:`run_env`. Service trees are
discovered through the ``tradeopt.migrations`` entry-point group, so ``tradeopt db upgrade`` (and
``python -m tradeopt_common.db.upgrade``) migrate whatever services are installed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from tradeopt_common.asyncutil import run_sync
from tradeopt_common.db.change_feed import install_triggers
from tradeopt_common.db.session import create_engine, is_sqlite
from tradeopt_common.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class MigrationTree:
    """A package's migrations: its schema, the folder holding ``env.py`` and what it needs first."""

    name: str
    schema: str
    location: Path
    depends_on: tuple[str, ...] = ()

    @property
    def version_table(self) -> str:
        """Per-tree version table (unique names, since SQLite has no schemas)."""
        return f"alembic_version_{self.name}"

    def config(self, url: str) -> Config:
        """An Alembic config for this tree and database URL."""
        cfg = Config()
        cfg.set_main_option("script_location", str(self.location))
        cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(rev)s_%%(slug)s")
        cfg.attributes["tradeopt_url"] = url
        cfg.attributes["tradeopt_tree"] = self
        return cfg


def discover_trees() -> list[MigrationTree]:
    """Every installed tree (``core`` from tradeopt-common, one per service), found through the
    ``tradeopt.migrations`` entry points and ordered so dependencies come first.
    """
    trees: dict[str, MigrationTree] = {}
    for ep in entry_points(group="tradeopt.migrations"):
        tree = ep.load()
        trees[tree.name] = tree
    ordered: list[MigrationTree] = []

    def visit(tree: MigrationTree, stack: tuple[str, ...] = ()) -> None:
        if tree in ordered:
            return
        if tree.name in stack:
            raise RuntimeError(f"migration trees depend on each other in a cycle: {stack}")
        for dep in tree.depends_on:
            visit(trees[dep], (*stack, tree.name))
        ordered.append(tree)

    for tree in sorted(trees.values(), key=lambda t: t.name):
        visit(tree)
    return ordered


def upgrade(url: str, trees: list[MigrationTree] | None = None, revision: str = "head") -> None:
    """Upgrade every tree (default: all discovered) to ``revision``. Synchronous; safe to run
    from several processes at once on PostgreSQL (an advisory lock serialises them).
    """
    for tree in trees or discover_trees():
        log.info("db.upgrade", tree=tree.name, schema=tree.schema)
        command.upgrade(tree.config(url), revision)


def current(url: str) -> dict[str, str | None]:
    """The current revision of every discovered tree."""
    from alembic.runtime.migration import MigrationContext

    out: dict[str, str | None] = {}

    async def _read() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                for tree in discover_trees():
                    opts: dict[str, Any] = {"version_table": tree.version_table}
                    if not is_sqlite(url):
                        opts["version_table_schema"] = tree.schema

                    def revision(c: Connection, o: dict[str, Any] = opts) -> str | None:
                        return MigrationContext.configure(c, opts=o).get_current_revision()

                    out[tree.name] = await conn.run_sync(revision)
        finally:
            await engine.dispose()

    run_sync(_read())
    return out


def run_env(target_metadata: MetaData) -> None:
    """Body of every tree's ``env.py`` (online mode, async engine, one schema per tree)."""
    from alembic import context

    cfg = context.config
    tree: MigrationTree = cfg.attributes["tradeopt_tree"]
    url: str = cfg.attributes["tradeopt_url"]
    sqlite = is_sqlite(url)

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table":
            return getattr(obj, "schema", None) == tree.schema
        return True

    def do_run(connection: Connection) -> None:
        if not sqlite:
            # Serialise concurrent migrate jobs and create the tree's schema first.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(b"tradeopt-migrate")}
            )
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{tree.schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=tree.version_table,
            version_table_schema=None if sqlite else tree.schema,
            include_schemas=not sqlite,
            include_object=include_object,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if not sqlite:  # every table of the tree announces its changes (change_feed)
                install_triggers(connection, tree.schema, frozenset({tree.version_table}))

    async def run_async() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    run_sync(run_async())
