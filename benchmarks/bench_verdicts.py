"""Calibration benchmark of the evaluation's verdicts (``tradeopt_ml.evaluation.verdicts``).

Simulates many synthetic datasets and checks that the verdict "beats buy-and-hold" is rare when
nothing can beat buy-and-hold, and frequent when something does:

* **no edge** (``--datasets``, default 200): random-walk prices (i.i.d. Gaussian log returns,
  zero drift, 1% daily volatility); 10 candidate policies that cannot know the future —
  5 seeded random position series (short/flat/long, redrawn every 1-20 bars) and 5
  momentum-like ones (time-series momentum and SMA crossovers, long/short) — each run as
  target positions through the library's backtest (:func:`backtest_targets`: the env's fills
  and costs, next-open fills), against buy-and-hold on the same bars. Run twice: with the
  default evaluation costs (5 bps + 2 bps slippage, where trading policies are truly *worse*)
  and without costs (an exact null: every candidate's true Sharpe equals buy-and-hold's, 0, so
  the two-sided rejection rate is the size of the test).
* **planted edge**: AR(1) log returns (``phi`` > 0, momentum is real) and a 1-bar momentum
  policy that exploits it: the rate of "beats buy-and-hold" is the power.

For each it prints, at the 5% level: the rate of "beats" verdicts of single paired tests (each
candidate alone), the family-wise rate (any of the 10 candidates, Romano-Wolf adjusted), and the
old CI-overlap rule ("beats" when the candidate's own 95% bootstrap CI lies above buy-and-hold's
point Sharpe) on the same data, single and any-of-10. Seeded: the same arguments print the same
figures.

Run: ``.venv/bin/python benchmarks/bench_verdicts.py [--quick] [--datasets N] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from tradeopt_ml.data import Panel
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.evaluation import (
    backtest_targets,
    bootstrap_sharpe_ci,
    buy_and_hold,
    evaluation_config,
    momentum,
    random,
    sma_crossover,
)
from tradeopt_ml.evaluation.verdicts import contrast_tests

LEVEL = 0.05
BARS = 750  # three years of daily bars (a typical test split)
WARMUP = 130  # bars before the first decision (momentum lookbacks)
SIGMA = 0.01


def make_bars(rng: np.random.Generator, n: int, phi: float = 0.0) -> pd.DataFrame:
    """One symbol of daily bars whose close follows exp(cumsum(log returns)); AR(1) with
    coefficient ``phi`` (0: a random walk). Opens equal the previous close (no gaps), so a
    next-open fill trades at the price the decision saw.
    """
    eps = rng.standard_normal(n) * SIGMA * np.sqrt(1 - phi * phi)
    r = np.empty(n)
    r[0] = eps[0]
    for t in range(1, n):
        r[t] = phi * r[t - 1] + eps[t]
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100.0], close[:-1]])
    wiggle = np.abs(rng.standard_normal(n)) * SIGMA * 0.3
    high = np.maximum(open_, close) * (1 + wiggle)
    low = np.minimum(open_, close) * (1 - wiggle)
    ts = pd.date_range("2010-01-04", periods=n, freq="B", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": ts,
            "symbol": "SYN",
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )


def candidates(panel: Panel, seed: int) -> list[np.ndarray]:
    """10 target-position series without edge on a random walk (5 random, 5 momentum-like)."""
    out = [random(panel, seed=seed * 100 + i, hold_bars=h) for i, h in enumerate((1, 3, 5, 10, 20))]
    out += [momentum(panel, lookback=lb, allow_short=True) for lb in (5, 20, 60, 126)]
    out.append(sma_crossover(panel, 10, 50, allow_short=True))
    return out


def returns_of(panel: Panel, targets: np.ndarray, config: EnvConfig, start: int) -> np.ndarray:
    run = backtest_targets(panel, targets, config, start=start, stop=panel.n_bars)
    return np.asarray(run.equity[1:] / run.equity[:-1] - 1.0)


def one_dataset(args: tuple[int, int, float, bool, int]) -> dict[str, Any]:
    """Verdicts of one dataset: raw/adjusted p-values and differences, old-rule outcomes."""
    seed, index, phi, costs, resamples = args
    rng = np.random.default_rng([seed, index, int(phi * 1000), int(costs)])
    panel = Panel.from_bars(make_bars(rng, BARS + WARMUP, phi))
    config = evaluation_config(EnvConfig(), cost_multiplier=1.0 if costs else 0.0)
    bench = returns_of(panel, buy_and_hold(panel), config, WARMUP)
    if phi > 0:  # planted edge: 1-bar momentum on AR(1) returns
        series = [returns_of(panel, momentum(panel, lookback=1, allow_short=True), config, WARMUP)]
    else:
        series = [returns_of(panel, tg, config, WARMUP) for tg in candidates(panel, index)]
    n = min(len(bench), *(len(s) for s in series))
    matrix = np.stack([s[:n] for s in series] + [bench[:n]], axis=1)
    k = len(series)
    weights = np.hstack([np.eye(k), -np.ones((k, 1))])
    tests = contrast_tests(matrix, weights, n_resamples=resamples, level=LEVEL, seed=index)
    bpy = 252.0
    bh_sharpe = float(bench[:n].mean() / bench[:n].std(ddof=1) * np.sqrt(bpy))
    old = []
    for s in series:
        ci = bootstrap_sharpe_ci(s[:n], bars_per_year=bpy, n_resamples=resamples, seed=0)
        old.append(ci.low > bh_sharpe)
    return {
        "diff": tests.sharpe_difference.tolist(),
        "p": tests.sharpe_p.tolist(),
        "p_adj": tests.sharpe_p_adjusted.tolist(),
        "old_beats": old,
        "block": tests.block_length,
    }


def rates(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Rates over datasets: single-test and family-wise 'beats', any rejection, old rule."""
    diff = np.array([r["diff"] for r in rows])
    p = np.array([r["p"] for r in rows])
    p_adj = np.array([r["p_adj"] for r in rows])
    old = np.array([r["old_beats"] for r in rows])
    beats_single = (p < LEVEL) & (diff > 0)
    beats_family = (p_adj < LEVEL) & (diff > 0)
    return {
        "beats_single": float(beats_single.mean()),
        "beats_first": float(beats_single[:, 0].mean()),
        "beats_family": float(beats_family.any(axis=1).mean()),
        "reject_single": float((p < LEVEL).mean()),
        "reject_family": float((p_adj < LEVEL).any(axis=1).mean()),
        "old_single": float(old.mean()),
        "old_first": float(old[:, 0].mean()),
        "old_family": float(old.any(axis=1).mean()),
        "block_median": float(np.median([r["block"] for r in rows])),
    }


def simulate(
    n: int, phi: float, costs: bool, resamples: int, jobs: int, seed: int
) -> list[dict[str, Any]]:
    tasks = [(seed, i, phi, costs, resamples) for i in range(n)]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(one_dataset, tasks, chunksize=4))
    return [one_dataset(t) for t in tasks]


def main(argv: list[str] | None = None) -> int:
    """Run the simulations and print the figures; exit 1 if a no-edge rate exceeds the level
    by more than its Monte Carlo error allows (binomial, 2 standard errors).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 datasets, 199 resamples")
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=999)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    n, resamples = (20, 199) if args.quick else (args.datasets, args.resamples)
    started = time.perf_counter()
    print(
        f"verdict calibration: {n} datasets x {BARS} bars, 10 candidates vs buy-and-hold, "
        f"level {LEVEL:.0%}, {resamples} bootstrap resamples, seed {args.seed}"
    )
    results: dict[str, Any] = {}
    tolerance = 2 * np.sqrt(LEVEL * (1 - LEVEL) / n)
    ok = True
    for label, costs in (
        ("no edge, costs 5+2 bps", True),
        ("no edge, no costs (exact null)", False),
    ):
        rows = simulate(n, 0.0, costs, resamples, args.jobs, args.seed)
        r = rates(rows)
        results[label] = r
        print(f"\n[{label}] median block length {r['block_median']:.0f} bars")
        print(f"  {'rate of':<46}{'paired test (new)':>20}{'CI-overlap rule (old)':>24}")
        print(
            f"  {'beats B&H, one candidate (random, daily)':<46}"
            f"{r['beats_first']:>20.1%}{r['old_first']:>24.1%}"
        )
        print(
            f"  {'beats B&H, each candidate alone (10 x n)':<46}"
            f"{r['beats_single']:>20.1%}{r['old_single']:>24.1%}"
        )
        print(
            f"  {'beats B&H, any of 10 at once (family-wise)':<46}"
            f"{r['beats_family']:>20.1%}{r['old_family']:>24.1%}"
        )
        print(
            f"  {'any verdict other than not distinguishable':<46}"
            f"{r['reject_single']:>20.1%}{'':>24}"
        )
        print(
            f"  {'  ... any of 10 (family-wise error rate)':<46}{r['reject_family']:>20.1%}{'':>24}"
        )
        ok &= r["beats_single"] <= LEVEL + tolerance and r["beats_family"] <= LEVEL + tolerance
    print("\n[planted edge] AR(1) log returns, 1-bar momentum vs buy-and-hold, costs 5+2 bps")
    print(f"  {'phi':<8}{'power (new)':>14}{'old rule':>12}{'mean Sharpe diff':>20}")
    for phi in (0.15, 0.2, 0.3):
        rows = simulate(n, phi, True, resamples, args.jobs, args.seed)
        r = rates(rows)
        mean_diff = float(np.mean([row["diff"][0] for row in rows])) * np.sqrt(252.0)
        results[f"phi={phi}"] = {**r, "mean_diff": mean_diff}
        print(f"  {phi:<8}{r['beats_single']:>14.1%}{r['old_single']:>12.1%}{mean_diff:>20.2f}")
    seconds = time.perf_counter() - started
    print(
        f"\nMonte Carlo tolerance (2 s.e.) {tolerance:.1%}; {seconds:.0f} s with {args.jobs} jobs"
    )
    print("calibrated: " + ("yes" if ok else "NO (beats rate above the level)"))
    main.results = results  # type: ignore[attr-defined]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
