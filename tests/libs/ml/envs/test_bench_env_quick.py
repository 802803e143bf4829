"""Keep benchmarks/bench_env.py from rotting: its --quick mode (our env only, no FinRL)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_env.py"


def test_quick_mode_runs_our_side_and_prints_figures(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_env_quick", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "SKIP  FinRL 1 asset(s) (--quick)" in out
    assert "batched env, 64 copies" in out
    assert "single-env PPO overhead vs do-nothing" in out
    results = module.main.results
    assert set(results) >= {"ours_1", "ours_30", "vec_64", "ppo_batched", "ppo_single"}
    assert all(v > 0 for v in results.values())


def test_finrl_frame_mirrors_our_panel() -> None:
    spec = importlib.util.spec_from_file_location("bench_env_frame", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    panel, feats = module.synthetic_market(10, 3, seed=0)
    frame = module.finrl_frame(panel, feats)
    assert len(frame) == 30
    day4 = frame.loc[4]
    assert day4["close"].tolist() == panel.close[4].tolist()
    assert day4["tic"].tolist() == list(panel.symbols)
    assert day4["rsi_30"].tolist() == feats[4, :, 3].tolist()
