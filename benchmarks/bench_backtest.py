"""Benchmark: the fast deterministic model backtest vs stepping the env with ``model.predict``.

Trains a small seeded PPO (discrete actions, SPY only) with the experiment path, then runs it
deterministically over the whole SPY sample (~8,200 bars) two ways in the same process:

* reference: ``TradingEnv`` stepped with ``model.predict(obs, deterministic=True)`` per bar;
* fast: :func:`tradeopt_ml.evaluation.fast_policy_backtest` (the policy's first layer split:
  window-feature GEMM once for all bars; a first guess from one batched forward per held
  level and a scan; the env's own core stepped without building observations; one
  margin-guarded batched verification; fixed-point correction if needed).

Reports the speed-up (target >= 30x: the issue's 20x with margin), action mismatches and the
largest equity difference (both must be 0), the fixed-point passes, plus the end-to-end
``backtest_model`` times (observations rebuilt from the lineage) and a ``sma_crossover``
baseline backtest over SPY.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [--quick] [--repeat N]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.envs import EnvConfig, make_env
from tradeopt_ml.envs.single import SingleCore
from tradeopt_ml.evaluation import (
    backtest_model,
    backtest_targets,
    evaluation_config,
    sma_crossover,
)
from tradeopt_ml.evaluation.evaluate import step_with_predict
from tradeopt_ml.evaluation.policy import fast_policy_backtest
from tradeopt_ml.training.experiment import (
    ExperimentSpec,
    prepare,
    run_experiment,
)

#: The issue asks for >= 20x; the benchmark holds the fast path to 20x with margin.
TARGET_SPEEDUP = 30.0
#: Minimum number of timed runs of the fast path (best of).
FAST_REPEAT = 10


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time (seconds) of ``repeat`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def step_env(model: Any, data: Any, config: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """The reference: the gymnasium env stepped with ``model.predict`` per bar."""
    return step_with_predict(model, make_env(data.panel, data.observations, config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny training, 1 repeat")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    torch.set_num_threads(1)

    bars = load_sample("SPY")
    spec = ExperimentSpec.model_validate(
        {
            "algorithm": "ppo",
            "seed": 7,
            "total_timesteps": 512 if args.quick else 8192,
            "hyperparams": {"n_steps": 256, "batch_size": 64, "n_epochs": 2},
            "env": {"window": 20, "action_space": "discrete", "episode_length": 256},
            "split": {"train_end": "2012-12-31", "validation_end": "2016-12-31"},
        }
    )
    data = prepare(bars, spec)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        exp = run_experiment(bars, spec, Path(tmp), prepared=data)
        train_s = time.perf_counter() - start
        from tradeopt_ml.agents import load_model

        model = load_model("ppo", exp.model_path, device="cpu")
        lineage = exp.lineage
        # no bust stop: the run covers every bar (a weak policy may lose half its cash)
        config = evaluation_config(spec.env).model_copy(update={"bust_fraction": 0.0})
        lineage = lineage.model_copy(update={"env": config})
        print(
            f"PPO trained in {train_s:.1f} s ({spec.total_timesteps} steps); SPY "
            f"{data.panel.n_bars} bars, obs dim {model.observation_space.shape[0]}"
        )

        ref_s, (ref_actions, ref_equity) = best_of(lambda: step_env(model, data, config), repeat)

        def fast() -> Any:
            core = SingleCore(data.panel, data.observations, config)
            return fast_policy_backtest(model, core)

        # a ~40 ms run is cheap to repeat: best of more runs makes it as robust to load
        # spikes on a shared machine as the ~1.5 s reference, whose bars average them out
        fast_s, (res, stats) = best_of(fast, max(repeat, FAST_REPEAT))
        mismatches = int(np.count_nonzero(res.actions != ref_actions))
        if res.actions.shape != ref_actions.shape:
            mismatches = max(mismatches, abs(len(res.actions) - len(ref_actions)), 1)
        n = min(len(res.equity), len(ref_equity))
        eq_diff = float(np.max(np.abs(res.equity[:n] - ref_equity[:n])))
        speedup = ref_s / fast_s
        print(
            f"reference env + model.predict per bar: {ref_s * 1e3:8.1f} ms "
            f"({len(ref_actions)} steps, {ref_s / len(ref_actions) * 1e6:.1f} us/bar, "
            f"best of {repeat})"
        )
        print(
            f"fast backtest:                         {fast_s * 1e3:8.1f} ms "
            f"(passes {stats['passes']}, per-bar fallback steps {stats['sequential_steps']}, "
            f"best of {max(repeat, FAST_REPEAT)})"
        )
        ok = speedup >= TARGET_SPEEDUP and mismatches == 0 and eq_diff == 0.0
        print(
            f"{'PASS' if ok else 'FAIL'}  speed-up {speedup:.1f}x "
            f"(target >= {TARGET_SPEEDUP:.0f}x), "
            f"action mismatches {mismatches}, max |equity diff| {eq_diff:.3g}, "
            f"trades {len(res.trades)}"
        )

        e2e_ref, _ = best_of(
            lambda: backtest_model(
                exp.model_path, lineage, bars, part=None, fast=False, model=model
            ),
            1,
        )
        e2e_fast, _ = best_of(
            lambda: backtest_model(exp.model_path, lineage, bars, part=None, model=model), repeat
        )
        print(
            f"backtest_model end to end (features rebuilt from lineage): reference "
            f"{e2e_ref * 1e3:.0f} ms, fast {e2e_fast * 1e3:.0f} ms ({e2e_ref / e2e_fast:.1f}x)"
        )

    panel = Panel.from_bars(bars)
    targets = sma_crossover(panel)
    backtest_targets(panel, targets, EnvConfig(), start=0, stop=panel.n_bars)  # warm numba
    sma_s, sma = best_of(
        lambda: backtest_targets(panel, targets, EnvConfig(), start=0, stop=panel.n_bars), repeat
    )
    print(
        f"sma_crossover baseline backtest over SPY: {sma_s * 1e3:.1f} ms "
        f"({sma.n_steps} bars, {len(sma.trades)} trades)"
    )
    main.results = {  # type: ignore[attr-defined]
        "speedup": speedup,
        "mismatches": mismatches,
        "equity_diff": eq_diff,
        "sma_ms": sma_s * 1e3,
    }
    return 0


if __name__ == "__main__":
    sys.exit(main())
