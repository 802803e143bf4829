"""Keep benchmarks/bench_verdicts.py from rotting: its --quick mode runs end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_verdicts.py"


def test_quick_mode_prints_the_rates_and_is_calibrated(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_verdicts_quick", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "CI-overlap rule (old)" in out and "power" in out and "calibrated: yes" in out
    results = module.main.results
    null = results["no edge, no costs (exact null)"]
    assert 0.0 <= null["beats_family"] <= 0.2 and 0.0 <= null["old_family"] <= 1.0
    assert results["phi=0.3"]["beats_single"] > results["phi=0.15"]["beats_single"]
