"""The ``tradeopt`` CLI against the real test database."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from scripts.manifest.model import load as load_manifest
from tradeopt_cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def invoke(*args: str) -> str:
    """stdout of a successful command (notices such as the database used go to stderr)."""
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_admin_commands_name_the_database_and_storage_they_use(fleet_env, monkeypatch):
    """Issue 16 #25: an admin command says which database it uses (password hidden), and warns
    when it is the embedded demo SQLite that no fleet reads."""
    result = runner.invoke(app, ["db", "current"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "database: postgresql+asyncpg://" in result.stderr
    assert "unset" not in result.stderr
    monkeypatch.delenv("TRADING_OPT_DB_URI")
    monkeypatch.delenv("TRADING_OPT_STORAGE_ENDPOINT")
    from tradeopt_common.config import get_settings

    get_settings.cache_clear()
    try:
        demo = runner.invoke(app, ["storage", "init"], catch_exceptions=False)
        assert demo.exit_code == 0, demo.output
        assert "TRADING_OPT_STORAGE_ENDPOINT is unset" in demo.stderr
        listed = runner.invoke(app, ["db", "current"], catch_exceptions=False)
        assert "database: sqlite+aiosqlite:///" in listed.stderr
        assert "TRADING_OPT_DB_URI is unset: the embedded demo database" in listed.stderr
    finally:
        get_settings.cache_clear()


def test_db_upgrade_reports_every_tree(fleet_env):
    out = invoke("db", "upgrade")
    core_head = f"core: {core_head_revision()}"
    assert core_head in out
    for service in load_manifest().built():  # every built service's tree (services.yaml)
        assert re.search(rf"^\s*{service.name}: \d{{4}}\b", out, re.M), (service.name, out)
    assert core_head in invoke("db", "current")


def core_head_revision() -> str:
    """The newest revision of the core tree, from its migration files' names."""
    from tradeopt_common.migrations import TREE

    return max(
        p.name.split("_", 1)[0].rsplit("-", 1)[1] for p in (TREE.location / "versions").glob("*.py")
    )


def test_keys_create_list_revoke(fleet_env):
    out = invoke("keys", "create", "--name", "ci-bot", "--scope", "write")
    key = re.search(r"^(to_\S+)$", out, re.MULTILINE).group(1)
    prefix = re.search(r"prefix: (\w+)", out).group(1)
    listed = invoke("keys", "list")
    assert "ci-bot" in listed and prefix in listed and key not in listed
    invoke("keys", "revoke", prefix)
    assert "ci-bot" not in invoke("keys", "list")
    assert "ci-bot" in invoke("keys", "list", "--all")
    result = runner.invoke(app, ["keys", "revoke", "nosuchkey"])
    assert result.exit_code == 1 and "no API key" in result.output


async def test_created_key_authenticates_with_its_scope(fleet_env, client):
    out = invoke("keys", "create", "--name", "reader")
    key = re.search(r"^(to_\S+)$", out, re.MULTILINE).group(1)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/datasets", headers=headers)).status_code == 200
    denied = await client.post(
        "/api/v1/datasets", json={"source": "sample", "symbol": "SPY"}, headers=headers
    )
    assert denied.status_code == 403


async def test_jobs_list_and_show(fleet_env, client):
    job_id = (
        await client.post("/api/v1/datasets", json={"source": "sample", "symbol": "TLT"})
    ).json()["job_id"]
    assert job_id in invoke("jobs", "list", "--status", "queued")
    shown = json.loads(invoke("jobs", "show", job_id))
    assert shown["id"] == job_id and shown["kind"] == "data.ingest_bars"
    result = runner.invoke(app, ["jobs", "show", "00000000-0000-0000-0000-000000000000"])
    assert result.exit_code == 1 and "does not exist" in result.output
