"""The round trip that matters: each bundled sample uploaded as CSV equals load_sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from tradeopt_ml.data import SAMPLE_SYMBOLS, bars_checksum, load_sample, sample_path
from tradeopt_ml.data.ingest import prepare_upload

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("symbol", SAMPLE_SYMBOLS)
def test_sample_upload_equals_load_sample(tmp_path: Path, symbol: str) -> None:
    path = tmp_path / f"{symbol}.csv"
    path.write_bytes(gzip.decompress(sample_path(symbol).read_bytes()))
    prepared = prepare_upload(path, f"{symbol}.csv", "text/csv", symbol, [], 30)
    expected = load_sample(symbol)
    assert prepared.rows == len(expected)
    assert prepared.symbols == (symbol,)
    assert prepared.has_adjusted
    assert prepared.report.applied == []
    assert bars_checksum(prepared.frame) == bars_checksum(expected)
    # Bar for bar; the canonical upload frame is at ns resolution (see ingest.to_canonical_bars).
    expected = expected.assign(timestamp=expected["timestamp"].dt.as_unit("ns"))
    pd.testing.assert_frame_equal(prepared.frame, expected, check_exact=True)
