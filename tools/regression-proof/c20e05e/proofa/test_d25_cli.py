"""Defect #25 sub-point "tradeopt without TRADING_OPT_DB_URI silently uses the demo SQLite; storage
init reports the local folder — say which database and storage every admin command uses",
copied from main's tests/cli/test_cli.py::test_admin_commands_name_the_database_and_storage_they_use
(unchanged: the same commands `db current` and `storage init` exist on c20e05e).

On c20e05e: `db current` prints nothing about the database it used on stderr (no
"database: postgresql+asyncpg://…"), and without TRADING_OPT_DB_URI it silently uses the demo
SQLite without a warning.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tradeopt_cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_d25f_admin_commands_name_the_database_and_storage_they_use(fleet_env, monkeypatch):
    result = runner.invoke(app, ["db", "current"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "database: postgresql+asyncpg://" in result.stderr, (result.stdout, result.stderr)
    assert "unset" not in result.stderr
    monkeypatch.delenv("TRADING_OPT_DB_URI")
    monkeypatch.delenv("TRADING_OPT_STORAGE_ENDPOINT")
    from tradeopt_common.config import get_settings

    get_settings.cache_clear()
    try:
        demo = runner.invoke(app, ["storage", "init"], catch_exceptions=False)
        assert demo.exit_code == 0, demo.output
        assert "TRADING_OPT_STORAGE_ENDPOINT is unset" in demo.stderr, (demo.stdout, demo.stderr)
        listed = runner.invoke(app, ["db", "current"], catch_exceptions=False)
        assert "database: sqlite+aiosqlite:///" in listed.stderr
        assert "TRADING_OPT_DB_URI is unset: the embedded demo database" in listed.stderr
    finally:
        get_settings.cache_clear()


def test_d25f_without_db_uri_the_demo_database_is_named(fleet_env, monkeypatch):
    """The second half alone (so it is shown even though the first assertion fails first)."""
    monkeypatch.delenv("TRADING_OPT_DB_URI")
    monkeypatch.delenv("TRADING_OPT_STORAGE_ENDPOINT")
    from tradeopt_common.config import get_settings

    get_settings.cache_clear()
    try:
        demo = runner.invoke(app, ["storage", "init"], catch_exceptions=False)
        assert demo.exit_code == 0, demo.output
        listed = runner.invoke(app, ["db", "current"], catch_exceptions=False)
        said = {
            "storage init": (demo.stdout, demo.stderr),
            "db current": (listed.stdout, listed.stderr),
        }
        assert "TRADING_OPT_STORAGE_ENDPOINT is unset" in demo.stderr, said
        assert "TRADING_OPT_DB_URI is unset: the embedded demo database" in listed.stderr, said
    finally:
        get_settings.cache_clear()
