"""Benchmark: synthetic generators at 1e6 bars, and the vectorised Markov regime path.

Prints wall time (best of N) for ``gbm``, ``regime_switching`` and ``jump_diffusion`` with
1,000,000 one-minute bars of one symbol (target < ~2 s each), and the speed-up of the doubling scan
used for the regime path over a sequential per-bar Python loop on the same uniforms (the loop is
timed on the first K bars and scaled linearly, which the output says).

Run: ``.venv/bin/python benchmarks/bench_synthetic.py [--bars N] [--repeat R] [--loop-bars K]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from tradeopt_ml.data.synthetic import (
    DEFAULT_TRANSITION,
    generate,
    stationary_distribution,
)
from tradeopt_ml.data.synthetic.generators import _markov_path

TARGET_S = 2.0


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sequential_path(u: np.ndarray, p: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Baseline: one ``searchsorted`` per bar in a Python loop."""
    cum = np.cumsum(p, axis=1)
    k = p.shape[0]
    out = np.empty(u.size, dtype=np.int64)
    out[0] = min(np.searchsorted(np.cumsum(initial), u[0], side="right"), k - 1)
    for t in range(1, u.size):
        out[t] = min(np.searchsorted(cum[out[t - 1]], u[t], side="right"), k - 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop-bars", type=int, default=100_000)
    args = parser.parse_args()

    print(f"synthetic generators, {args.bars:,} bars x 1 symbol, freq=1min, best of {args.repeat}")
    for kind in ("gbm", "regime", "jump"):
        seconds = best_of(
            lambda kind=kind: generate(kind, "X", args.bars, seed=0, freq="1min"), args.repeat
        )
        flag = "ok" if seconds < TARGET_S else "SLOW"
        print(f"  {kind:<7} {seconds:7.3f} s   ({args.bars / seconds / 1e6:5.2f} M bars/s)  {flag}")

    p = np.asarray(DEFAULT_TRANSITION)
    initial = stationary_distribution(p)
    scan = best_of(
        lambda: _markov_path(np.random.default_rng(1), args.bars, p, initial), args.repeat
    )
    k = min(args.loop_bars, args.bars)
    u = np.random.default_rng(1).random(args.bars)
    t0 = time.perf_counter()
    reference = sequential_path(u[:k], p, initial)
    loop = (time.perf_counter() - t0) * args.bars / k
    same = np.array_equal(_markov_path(np.random.default_rng(1), k, p, initial), reference)
    print(
        f"regime path: scan {scan:.3f} s vs per-bar loop {loop:.3f} s "
        f"(timed on {k:,} bars, scaled) -> {loop / scan:.1f}x faster; identical path: {same}"
    )


if __name__ == "__main__":
    main()
