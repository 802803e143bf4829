"""Market data: canonical bars, aligned panels, bundled real samples, uploads with row-level
validation and explicit repairs, seeded synthetic generators, time splits and walk-forward folds,
summaries, and an optional online provider.
"""

from tradeopt_ml.data.bars import (
    BAR_COLUMNS,
    BarValidationError,
    bars_checksum,
    read_bars_parquet,
    to_canonical,
    validate_bars,
    write_bars_parquet,
)
from tradeopt_ml.data.ingest import (
    BarsInvalid,
    ParsedUpload,
    PreparedBars,
    UploadRejected,
    prepare_upload,
    read_upload,
    to_canonical_bars,
)
from tradeopt_ml.data.panel import FIELDS, Panel, bars_per_year_of_bars
from tradeopt_ml.data.providers import ProviderError, ProviderUnavailable, fetch_yahoo
from tradeopt_ml.data.repair import Repair, RepairAction, RepairReport, apply_repairs
from tradeopt_ml.data.samples import SAMPLE_SYMBOLS, load_sample, sample_path
from tradeopt_ml.data.splits import (
    Fold,
    FoldSpec,
    Segment,
    Splits,
    SplitSpec,
    make_splits,
    walk_forward,
)
from tradeopt_ml.data.summary import summarize
from tradeopt_ml.data.synthetic import (
    SyntheticSpec,
    gbm,
    generate,
    jump_diffusion,
    regime_switching,
)
from tradeopt_ml.data.validation import ValidationReport, validate

__all__ = [
    "BAR_COLUMNS",
    "FIELDS",
    "SAMPLE_SYMBOLS",
    "BarValidationError",
    "BarsInvalid",
    "Fold",
    "FoldSpec",
    "Panel",
    "ParsedUpload",
    "PreparedBars",
    "ProviderError",
    "ProviderUnavailable",
    "Repair",
    "RepairAction",
    "RepairReport",
    "Segment",
    "SplitSpec",
    "Splits",
    "SyntheticSpec",
    "UploadRejected",
    "ValidationReport",
    "apply_repairs",
    "bars_checksum",
    "bars_per_year_of_bars",
    "fetch_yahoo",
    "gbm",
    "generate",
    "jump_diffusion",
    "load_sample",
    "make_splits",
    "prepare_upload",
    "read_bars_parquet",
    "read_upload",
    "regime_switching",
    "sample_path",
    "summarize",
    "to_canonical",
    "to_canonical_bars",
    "validate",
    "validate_bars",
    "walk_forward",
    "write_bars_parquet",
]
