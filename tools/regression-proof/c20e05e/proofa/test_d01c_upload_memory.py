"""Defect #1, sub-point "uploads are read whole into memory (~8x the file size)".

Main-side tests: tests/libs/ml/data_ingest/test_ingest_chunked.py (the chunked reader gives the
same result for any chunk size) and tests/deploy/test_limits.py (PARSE_FACTOR = 4 in the sizing
argument) — neither measures memory; the measurement lives in benchmarks/bench_ingest_memory.py.
This is the smallest test that shows the defect itself: in a fresh process, prepare_upload() on a
~24 MiB clean 10-symbol minute-bar CSV must not grow the peak RSS by more than 4x the file
(the PARSE_FACTOR main's deployment sizing relies on).

On c20e05e it fails: the whole file is read into one bytes object, decoded, and parsed by pandas
as object columns (~8x the file). Runs unchanged in /work/main (passes there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.unit
MIB = 1024 * 1024
PARSE_FACTOR = 4  # tests/deploy/test_limits.py on main

CHILD = r"""
import json, sys
from pathlib import Path
from tradeopt_ml.data.ingest import prepare_upload

def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
before = kib("VmRSS")
prepared = prepare_upload(Path(sys.argv[1]), symbol=None)
print(json.dumps({"peak_kib": kib("VmHWM") - before, "rows": len(prepared.frame)}))
"""


def _csv(path: Path, mib: float) -> int:
    n_symbols, per = 10, int(mib * MIB / 98) // 10
    rng = np.random.default_rng(7)
    close = 100 * np.exp(rng.standard_normal((n_symbols, per)).cumsum(axis=1) * 0.001)
    spread = np.abs(rng.standard_normal((n_symbols, per))) * 0.05
    stamps = np.datetime64("2000-01-03T00:00", "m") + np.arange(per).astype("timedelta64[m]")
    pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i:02d}" for i in range(n_symbols)], per),
            "timestamp": np.tile(stamps.astype("datetime64[s]").astype(str), n_symbols),
            "open": close.ravel(),
            "high": (close + spread).ravel(),
            "low": (close - spread).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(0, 10_000, n_symbols * per),
        }
    ).to_csv(path, index=False)
    return n_symbols * per


def test_d01c_an_upload_is_parsed_within_parse_factor_times_its_size(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    rows = _csv(path, 24)
    size = path.stat().st_size
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["rows"] == rows
    growth = measured["peak_kib"] * 1024
    print(
        f"CSV {size / MIB:.1f} MiB, peak RSS growth {growth / MIB:.1f} MiB = {growth / size:.2f}x"
    )
    assert growth <= PARSE_FACTOR * size, (
        f"peak RSS growth {growth / MIB:.1f} MiB = {growth / size:.2f}x the {size / MIB:.1f} MiB CSV"
    )
