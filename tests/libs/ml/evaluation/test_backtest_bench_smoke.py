"""Keep benchmarks/bench_backtest.py from rotting: its --quick mode runs end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_backtest.py"


def test_quick_mode_prints_figures_with_no_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_backtest_quick", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "speed-up" in out and "sma_crossover baseline backtest" in out
    results = module.main.results
    assert results["mismatches"] == 0 and results["equity_diff"] == 0.0
    assert results["speedup"] > 1.0 and results["sma_ms"] > 0
