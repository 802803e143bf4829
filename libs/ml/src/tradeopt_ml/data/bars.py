"""The canonical bar frame and its checks.

Columns: ``symbol, timestamp`` (UTC, nanosecond unit),
``open, high, low, close, adj_close, volume`` (float64).
Rows are sorted by ``(symbol, timestamp)``. The full validation suite (repairs, row reports for
uploads) grows in the data-service issue; this module holds the invariants every stage relies on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

BAR_COLUMNS: tuple[str, ...] = (
    "symbol",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
)
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


class BarValidationError(ValueError):
    """Bars that would poison later stages. ``problems`` lists ``{row, column, problem}``."""

    def __init__(self, message: str, problems: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def to_canonical(raw: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """Rename, type and order a raw OHLCV frame with a ``date``/``timestamp`` column."""
    frame = raw.rename(columns={c: c.strip().lower().replace(" ", "_") for c in raw.columns})
    frame = frame.rename(columns={"date": "timestamp"})
    if "adj_close" not in frame.columns and "close" in frame.columns:
        frame["adj_close"] = frame["close"]
    if symbol is not None:
        frame["symbol"] = symbol
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarValidationError(f"missing columns: {', '.join(missing)}")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    for col in (*PRICE_COLUMNS, "volume"):
        frame[col] = frame[col].astype("float64")
    frame["symbol"] = frame["symbol"].astype(str)
    return frame.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)


def validate_bars(frame: pd.DataFrame, min_rows: int = 2) -> None:
    """Raise :class:`BarValidationError` listing the failing rows (at most 20 shown)."""
    problems: list[dict[str, object]] = []

    def flag(mask: np.ndarray, column: str, problem: str) -> None:
        for row in np.flatnonzero(mask)[:20]:
            problems.append({"row": int(row), "column": column, "problem": problem})

    if len(frame) < min_rows:
        raise BarValidationError(f"too few rows: {len(frame)} < {min_rows}")
    numeric = frame[[*PRICE_COLUMNS, "volume"]].to_numpy()
    flag(np.isnan(numeric).any(axis=1), "*", "missing value")
    for col in PRICE_COLUMNS:
        flag((frame[col] <= 0).to_numpy(), col, "price must be positive")
    flag((frame["volume"] < 0).to_numpy(), "volume", "volume must not be negative")
    hi = frame["high"].to_numpy()
    lo = frame["low"].to_numpy()
    body_hi = np.maximum(frame["open"].to_numpy(), frame["close"].to_numpy())
    body_lo = np.minimum(frame["open"].to_numpy(), frame["close"].to_numpy())
    flag(hi < body_hi, "high", "high below max(open, close)")
    flag(lo > body_lo, "low", "low above min(open, close)")
    positions = np.arange(len(frame))
    for _, group in frame.groupby("symbol", sort=False):
        where = positions[frame.index.get_indexer(group.index)]
        step = np.diff(pd.DatetimeIndex(group["timestamp"]).asi8)
        duplicate = np.zeros(len(frame), dtype=bool)
        unsorted = np.zeros(len(frame), dtype=bool)
        duplicate[where[1:][step == 0]] = True
        unsorted[where[1:][step < 0]] = True
        flag(duplicate, "timestamp", "duplicate timestamp")
        flag(unsorted, "timestamp", "timestamp earlier than the previous row")
    if problems:
        raise BarValidationError(f"{len(problems)} invalid row(s)", problems)


def write_bars_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write bars as Parquet (zstd), deterministic bytes for the same frame."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def read_bars_parquet(path: Path) -> pd.DataFrame:
    """Read bars written by :func:`write_bars_parquet`."""
    return pq.read_table(path).to_pandas()


def bars_checksum(frame: pd.DataFrame) -> str:
    """SHA-256 over the bar values (independent of file encoding)."""
    digest = hashlib.sha256()
    digest.update(frame["symbol"].to_numpy().astype("U").tobytes())
    digest.update(pd.DatetimeIndex(frame["timestamp"]).as_unit("ns").asi8.tobytes())
    digest.update(frame[[*PRICE_COLUMNS, "volume"]].to_numpy(dtype="float64").tobytes())
    return digest.hexdigest()
