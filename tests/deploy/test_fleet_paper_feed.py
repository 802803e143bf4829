"""The local fleet runs the paper-trading bar feed only when enabled (``FLEET_PAPER_FEED=on``,
the compose profile ``paper-trading``'s counterpart), as a supervisord program of its own."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.support import ROOT

pytestmark = pytest.mark.unit


def _fleetctl() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fleetctl_feed", ROOT / "scripts" / "fleet" / "fleetctl.py"
    )
    assert spec is not None and spec.loader is not None
    fleetctl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fleetctl)
    return fleetctl


@pytest.mark.parametrize("value", [None, "off", "on"])
def test_the_feed_runs_only_when_enabled(tmp_path: Path, monkeypatch, value: str | None) -> None:
    fleetctl = _fleetctl()
    if value is None:
        monkeypatch.delenv("FLEET_PAPER_FEED", raising=False)
    else:
        monkeypatch.setenv("FLEET_PAPER_FEED", value)
    conf = fleetctl.supervisord_conf(tmp_path, False, "/usr/sbin/nginx")
    programs = fleetctl.app_programs()
    if value != "on":
        assert "strategy-feed" not in programs and "[program:strategy-feed]" not in conf
        return
    assert programs[-2:] == ["strategy-feed", "beat"]
    block = conf.split("[program:strategy-feed]\n", 1)[1].split("\n\n", 1)[0]
    assert (
        f"python -m tradeopt_strategy.feed --heartbeat {tmp_path}/feed-alive" in block
    )  # the compose healthcheck's and the k8s probe's heartbeat file, in the run dir
    assert "autorestart=true" in block and f"{tmp_path}/logs/strategy-feed.log" in block


def test_a_bad_switch_is_refused(monkeypatch) -> None:
    fleetctl = _fleetctl()
    monkeypatch.setenv("FLEET_PAPER_FEED", "maybe")
    with pytest.raises(fleetctl.FleetError, match="FLEET_PAPER_FEED"):
        fleetctl.app_programs()
