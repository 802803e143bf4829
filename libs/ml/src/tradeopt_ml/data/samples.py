"""The bundled real daily samples (see ``samples/README.md`` for provenance)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

from tradeopt_ml.data.bars import to_canonical

SAMPLE_SYMBOLS: tuple[str, ...] = ("SPY", "QQQ", "IWM", "TLT", "GLD")


def sample_path(symbol: str) -> Path:
    """Path of the gzip CSV of a bundled sample."""
    if symbol not in SAMPLE_SYMBOLS:
        raise ValueError(f"no bundled sample {symbol!r}; choose one of {', '.join(SAMPLE_SYMBOLS)}")
    return Path(str(files("tradeopt_ml.data") / "samples" / f"{symbol}.csv.gz"))


def load_sample(symbol: str) -> pd.DataFrame:
    """A bundled sample as a canonical bar frame (UTC timestamps, float64 prices)."""
    raw = pd.read_csv(sample_path(symbol))
    return to_canonical(raw, symbol)
