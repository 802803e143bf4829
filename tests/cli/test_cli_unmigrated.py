"""Admin commands against a database that is not migrated (or not reachable) say so in one line
and exit 1, instead of printing a raw SQLAlchemy error (issue 16 review follow-up)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.databases import drop_database, pg_url_for, recreate_database
from tradeopt_cli.dbstate import unmigrated
from tradeopt_cli.main import app
from tradeopt_common.asyncutil import run_sync
from tradeopt_common.config import get_settings

pytestmark = pytest.mark.integration
runner = CliRunner()
BARE_DB = f"{os.environ.get('TRADEOPT_TEST_DB', 'tradeopt_test')}_bare"
ADMIN_COMMANDS = (
    ("keys", "list"),
    ("keys", "create", "--name", "ci-bot"),
    ("keys", "revoke", "nosuchkey"),
    ("jobs", "list"),
    ("jobs", "show", "00000000-0000-0000-0000-000000000000"),
)


@pytest.fixture
def bare_postgres() -> Iterator[str]:
    """An empty PostgreSQL database (created, never migrated), dropped afterwards."""
    run_sync(recreate_database(BARE_DB))
    try:
        yield pg_url_for(BARE_DB)
    finally:
        run_sync(drop_database(BARE_DB))


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the CLI at a database URL (settings re-read)."""

    def use(url: str) -> None:
        monkeypatch.setenv("TRADING_OPT_DB_URI", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _assert_says_not_migrated(url_shown: str) -> None:
    for command in ADMIN_COMMANDS:
        result = runner.invoke(app, list(command), catch_exceptions=False)
        assert result.exit_code == 1, (command, result.output)
        assert f"error: database {url_shown} is not migrated (no revision: core" in result.stderr, (
            command,
            result.stderr,
        )
        assert "run `tradeopt db upgrade`" in result.stderr
        assert "Traceback" not in result.output and "sqlalchemy" not in result.output.lower()


def test_every_admin_command_on_an_unmigrated_postgres_database(bare_postgres, use_database):
    use_database(bare_postgres)
    _assert_says_not_migrated(bare_postgres)
    current = runner.invoke(app, ["db", "current"], catch_exceptions=False)
    assert current.exit_code == 0
    assert "core: not migrated (run `tradeopt db upgrade`)" in current.stdout


def test_every_admin_command_on_an_unmigrated_sqlite_file_then_after_upgrade(
    tmp_path: Path, use_database
):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    use_database(url)
    _assert_says_not_migrated(url)
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    listed = runner.invoke(app, ["keys", "list"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert not unmigrated(url)


def test_a_tree_behind_the_installed_migrations_is_reported(tmp_path: Path, use_database):
    from alembic import command
    from alembic.script import ScriptDirectory

    from tradeopt_common.migrations import TREE

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    use_database(url)
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    config = TREE.config(url)
    head = ScriptDirectory.from_config(config).get_revision("head")
    assert head is not None and head.down_revision is not None
    command.stamp(config, str(head.down_revision), purge=True)
    state = unmigrated(url)
    assert state.behind == ("core",) and not state.never
    assert "behind this version's migrations: core" in state.message(url)


def test_an_unreachable_or_missing_database_is_one_line(use_database):
    use_database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    refused = runner.invoke(app, ["keys", "list"], catch_exceptions=False)
    assert refused.exit_code == 1
    assert "error: cannot reach database postgresql+asyncpg://" in refused.stderr
    assert "Traceback" not in refused.output
    use_database(pg_url_for(f"{BARE_DB}_missing"))
    missing = runner.invoke(app, ["jobs", "list"], catch_exceptions=False)
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.output
