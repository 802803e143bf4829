"""Keep benchmarks/bench_tuning.py from rotting: its ``--quick`` mode (its own fleet of real
processes on a database named after the test database and the test Redis db; figures not
judged, only that both experiments ran and printed them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, TEST_DB

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_tuning.py"


@pytest.mark.timeout(600)
def test_quick_mode_runs_both_experiments_and_prints_figures():
    argv = [sys.executable, str(SCRIPT), "--quick", "--db", f"{TEST_DB}_bench"]
    done = subprocess.run(
        [*argv, "--redis", REDIS_URL], capture_output=True, text=True, timeout=580, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    speedup = re.search(r"\(a\) 2 trials x 128 timesteps .* -> ([\d.]+)x", out)
    assert speedup and float(speedup.group(1)) > 0, out
    assert "same best trial parameters in both: True" in out  # same seed, same study
    fraction = re.search(r"\(b\) 4 trials .* none (\d+) timesteps trained .* -> ([\d.]+)%", out)
    assert fraction, out
    assert int(fraction.group(1)) == 4 * 256  # no pruner: every run trains its whole budget
    assert 0 < float(fraction.group(2)) <= 100
