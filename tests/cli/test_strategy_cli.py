"""``tradeopt strategy …`` against a live strategy API process (real PostgreSQL, Redis, S3):
problems become ``error: …`` with exit code 1, lists and the kill switch print their results."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from tests.conftest import API_KEY
from tests.support.live import live_api
from tradeopt_cli.main import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_strategy_commands_over_http(fleet_env, tmp_path):
    with live_api("tradeopt_strategy.app:create_app", fleet_env, tmp_path, "strategy-api") as base:
        common = ["--api", base, "--api-key", API_KEY]
        unknown = str(uuid.uuid4())
        created = runner.invoke(app, ["strategy", "create", unknown, *common])
        assert created.exit_code == 1 and "error:" in created.output
        assert "not registered" in created.output
        listed = runner.invoke(app, ["strategy", "list", *common])
        assert listed.exit_code == 0 and "state" in listed.output
        halted = runner.invoke(app, ["strategy", "halt-all", "--reason", "drill", *common])
        assert halted.exit_code == 0, halted.output
        assert json.loads(halted.output) == {"halted": [], "reason": "drill"}
        missing = runner.invoke(app, ["strategy", "session", unknown, *common])
        assert (
            missing.exit_code == 1
            and "404" in missing.output
            and "does not exist" in missing.output
        )
        denied = runner.invoke(app, ["strategy", "list", "--api", base, "--api-key", "nope"])
        assert denied.exit_code == 1 and "401" in denied.output
