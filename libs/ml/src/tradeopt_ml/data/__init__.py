"""Market data: the canonical bar frame, aligned panels, bundled real samples, Parquet I/O."""

from tradeopt_ml.data.bars import (
    BAR_COLUMNS,
    BarValidationError,
    bars_checksum,
    read_bars_parquet,
    to_canonical,
    validate_bars,
    write_bars_parquet,
)
from tradeopt_ml.data.panel import FIELDS, Panel
from tradeopt_ml.data.samples import SAMPLE_SYMBOLS, load_sample, sample_path

__all__ = [
    "BAR_COLUMNS",
    "FIELDS",
    "SAMPLE_SYMBOLS",
    "BarValidationError",
    "Panel",
    "bars_checksum",
    "load_sample",
    "read_bars_parquet",
    "sample_path",
    "to_canonical",
    "validate_bars",
    "write_bars_parquet",
]
