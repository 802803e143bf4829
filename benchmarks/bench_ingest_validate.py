"""Upload ingest at scale: parse + validate a 1,000,000-row CSV (and Parquet), and compare the
vectorised validate() with a per-row Python loop over the same checks (baseline, same run).

Run: .venv/bin/python benchmarks/bench_ingest_validate.py [rows]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tradeopt_ml.data.ingest import prepare_upload, read_upload
from tradeopt_ml.data.repair import apply_repairs
from tradeopt_ml.data.validation import validate


def make_frame(n: int, n_symbols: int = 10, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per = n // n_symbols
    close = 100 * np.exp(rng.standard_normal((n_symbols, per)).cumsum(axis=1) * 0.001)
    spread = np.abs(rng.standard_normal((n_symbols, per))) * 0.05
    start = np.datetime64("2000-01-03T00:00", "m")
    stamps = start + np.arange(per).astype("timedelta64[m]")
    frame = pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i:02d}" for i in range(n_symbols)], per),
            "timestamp": np.tile(stamps.astype("datetime64[s]").astype(str), n_symbols),
            "open": close.ravel(),
            "high": (close + spread).ravel(),
            "low": (close - spread).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(0, 10_000, n_symbols * per),
        }
    )
    bad = rng.choice(len(frame), size=1000, replace=False)
    frame.loc[bad[:500], "volume"] = -1
    frame.loc[bad[500:], "high"] = frame.loc[bad[500:], "low"] - 1
    return frame


def loop_validate(frame: pd.DataFrame) -> int:
    """Baseline: the same value checks row by row in Python."""
    problems = 0
    last: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    ticks = pd.DatetimeIndex(frame["timestamp"]).asi8
    for i, (sym, o, h, lo, c, v) in enumerate(
        zip(
            frame["symbol"],
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            frame["volume"],
            strict=True,
        )
    ):
        t = int(ticks[i])
        problems += (h < max(o, c)) + (lo > min(o, c)) + (h < lo) + (v < 0)
        problems += any(x <= 0 for x in (o, h, lo, c)) + any(x != x for x in (o, h, lo, c, v))
        problems += (sym, t) in seen
        problems += sym in last and t < last[sym]
        seen.add((sym, t))
        last[sym] = t
    return problems


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    frame = make_frame(n)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "big.csv"
        frame.to_csv(csv, index=False)
        pq_path = Path(tmp) / "big.parquet"
        frame.to_parquet(pq_path, index=False)
        size_mb = csv.stat().st_size / 1e6

        t = time.perf_counter()
        parsed = read_upload(csv, symbol=None)
        t_parse = time.perf_counter() - t
        t = time.perf_counter()
        report = validate(parsed.frame, parse_errors=parsed.parse_errors)
        t_validate = time.perf_counter() - t
        t = time.perf_counter()
        repaired, _ = apply_repairs(parsed.frame, ["sort", "drop_duplicates", "ffill"])
        t_repair = time.perf_counter() - t
        t = time.perf_counter()
        parsed_pq = read_upload(pq_path, symbol=None)
        t_parse_pq = time.perf_counter() - t
        clean = Path(tmp) / "clean.csv"
        frame.assign(volume=frame["volume"].abs(), high=frame[["high", "open"]].max(axis=1)).to_csv(
            clean, index=False
        )
        t = time.perf_counter()
        prepared = prepare_upload(clean, symbol=None)
        t_prepare = time.perf_counter() - t

    typed = parsed.frame
    t = time.perf_counter()
    loop_problems = loop_validate(typed)
    t_loop = time.perf_counter() - t

    print(f"rows={len(typed):,} symbols=10 csv={size_mb:.1f} MB")
    print(f"read_upload csv      {t_parse:7.3f} s")
    print(f"read_upload parquet  {t_parse_pq:7.3f} s  (rows={parsed_pq.rows:,})")
    print(f"validate             {t_validate:7.3f} s  problems={report.total} {report.counts}")
    print(f"apply_repairs (all)  {t_repair:7.3f} s  rows after={len(repaired):,}")
    print(f"prepare_upload clean {t_prepare:7.3f} s  rows={prepared.rows:,}")
    print(f"per-row loop         {t_loop:7.3f} s  problems={loop_problems}")
    print(f"validate speed-up vs per-row loop: {t_loop / t_validate:.1f}x")


if __name__ == "__main__":
    main()
