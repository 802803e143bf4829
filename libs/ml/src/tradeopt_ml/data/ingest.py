"""Parse an uploaded bar file (CSV or Parquet) into a typed frame in file order.

The data service streams an upload to a temporary file and calls :func:`read_upload` (or the
one-call :func:`prepare_upload`, which also repairs, validates and canonicalises). File-level
problems raise :class:`UploadRejected` at once; row-level problems are collected by
:func:`tradeopt_ml.data.validation.validate` into one report.

A CSV is never held whole: :mod:`tradeopt_ml.data.csvfile` checks its bytes block by block and
yields chunks of rows, each typed at once into preallocated columns (row numbers, lines and
parse errors numbered across chunks), and the frame is assembled once from those columns. Peak
memory is about twice the typed frame instead of ~8x the file; the result is the same for any
chunk size (timestamp layouts are still chosen on the whole column). A Parquet file is read
the same way, row batch by row batch, decoding only the columns the mapping uses; a pandas index
saved with the data counts as a column when it is named (``df.to_parquet`` of a frame indexed by
``Date``) and is dropped when it is unnamed.

Decisions (documented for the data API):

* **Format** by content, not by name: ``PAR1`` magic = Parquet, anything else must be UTF-8 text
  (a BOM is allowed) read as CSV with the delimiter sniffed from the header among ``, ; TAB |``.
  NUL bytes, invalid UTF-8 or a known binary signature (PNG, ZIP/XLSX, gzip, PDF, ...) are
  ``binary``. The declared media type must be a CSV/Parquet/text/octet-stream type or absent.
* **Columns** by alias (:mod:`tradeopt_ml.data.columns`); ``timestamp, open, high, low, close,
  volume`` are required; ``adj_close`` and ``symbol`` are optional; other columns are ignored.
  A ``Date`` + ``Time`` pair is combined into one timestamp.
* **Symbols.** Without a symbol column the ``symbol`` argument is required. With a symbol
  column and ``symbol=None`` every row carries its own symbol (multi-symbol upload). With both,
  the argument wins: rows whose symbol differs are row-level problems
  (``"symbol differs from the upload symbol"``), so a mislabelled file is never silently merged.
* **Numbers.** Blank cells and ``NA``/``N/A``/``NaN``/``null``/``None``/``-`` are *missing*;
  any other text that is not a number is *non-numeric* (both are reported by validation).
* **Row numbers.** ``row`` is the 0-based index of the data row in the file (blank lines are
  not rows); ``line`` is the physical CSV line (header = line 1; assumes no quoted newlines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tradeopt_ml.data.bars import BAR_COLUMNS, BarValidationError
from tradeopt_ml.data.buffers import ColumnBuffer
from tradeopt_ml.data.columns import ALIASES, ColumnMapping
from tradeopt_ml.data.csvfile import (
    CHUNK_ROWS,
    DELIMITERS,
    MISSING_TOKENS,
    inspect_csv,
    iter_csv_chunks,
)
from tradeopt_ml.data.rejects import RejectKind, UploadRejected
from tradeopt_ml.data.repair import Repair, RepairReport, apply_repairs
from tradeopt_ml.data.timestamps import ChunkedTimestamps
from tradeopt_ml.data.validation import (
    NON_NUMERIC,
    SYMBOL_MISMATCH,
    UNPARSEABLE_TIMESTAMP,
    ValidationReport,
    validate,
)

__all__ = [
    "ACCEPTED_MEDIA_TYPES",
    "DELIMITERS",
    "MISSING_TOKENS",
    "BarsInvalid",
    "ParsedUpload",
    "PreparedBars",
    "RejectKind",
    "UploadRejected",
    "prepare_upload",
    "read_upload",
    "to_canonical_bars",
]

#: Declared media types accepted for an upload (parameters such as ``charset`` are ignored).
ACCEPTED_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "text/x-csv",
        "application/x-csv",
        "application/vnd.ms-excel",  # what browsers on Windows declare for .csv files
        "text/tab-separated-values",
        "text/plain",
        "application/octet-stream",
        "application/vnd.apache.parquet",
        "application/parquet",
        "application/x-parquet",
    }
)
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9.\-_^=]{1,32}$")
NUMERIC_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")


class BarsInvalid(BarValidationError):
    """Row-level problems remain after the requested repairs; ``report`` says which and why."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.message(), report.problems)
        self.report = report


@dataclass(frozen=True, eq=False)
class ParsedUpload:
    """An upload parsed into typed columns, rows still in file order.

    Attributes:
        frame: columns ``row``, ``line`` (CSV only), ``symbol``, ``timestamp`` (UTC, ``NaT``
            when unparseable), ``open, high, low, close``, ``adj_close`` (only when the file has
            it) and ``volume`` as float64 (``NaN`` when missing or non-numeric).
        parse_errors: ``row, column, value, problem`` for cells whose text could not be parsed
            (unparseable timestamps, non-numeric values, symbol mismatches); pass it to
            :func:`~tradeopt_ml.data.validation.validate`.
        has_adjusted: the file had an adjusted-close column.
        format: ``"csv"`` or ``"parquet"``.
        delimiter: the sniffed CSV delimiter (``None`` for Parquet).
        columns: canonical field -> source column name.
        ignored_columns: source columns that matched no field.
        symbols: distinct symbols in order of first appearance.
    """

    frame: pd.DataFrame
    parse_errors: pd.DataFrame
    has_adjusted: bool
    format: Literal["csv", "parquet"]
    delimiter: str | None
    columns: dict[str, str]
    ignored_columns: list[str] = field(default_factory=list)
    symbols: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(self.frame)


@dataclass(frozen=True, eq=False)
class PreparedBars:
    """The result of :func:`prepare_upload`: a canonical bar frame and what was done to it."""

    frame: pd.DataFrame
    report: RepairReport
    has_adjusted: bool
    symbols: tuple[str, ...]
    rows: int
    format: Literal["csv", "parquet"] = "csv"
    ignored_columns: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- file-level checks


def _check_media_type(content_type: str | None) -> None:
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in ACCEPTED_MEDIA_TYPES:
        raise UploadRejected(
            "media_type",
            f"unsupported media type {media!r}; upload CSV (text/csv) or Parquet "
            "(application/vnd.apache.parquet)",
            media_type=media,
        )


_INDEX_LEVEL = re.compile(r"__index_level_\d+__")


def _open_parquet(path: Path, name: str, max_rows: int | None) -> tuple[pq.ParquetFile, list[str]]:
    """The file and the names of its columns (a pandas index saved with the data is a column
    like any other when named, and left out when it is an unnamed ``__index_level_N__``).
    """
    try:
        handle = pq.ParquetFile(path)
        n = handle.metadata.num_rows
        names = [str(c) for c in handle.schema_arrow.names]
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise UploadRejected("format", f"{name} is not a readable Parquet file: {exc}") from None
    if max_rows is not None and n > max_rows:
        raise UploadRejected(
            "too_many_rows", f"{name} has {n} rows; the limit is {max_rows}", rows=n
        )
    return handle, [c for c in names if not _INDEX_LEVEL.fullmatch(c)]


def _parquet_chunks(
    handle: pq.ParquetFile, name: str, columns: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The given columns (names in the file) ``chunk_rows`` rows at a time as pandas columns
    named as matched (stripped); only those columns are decoded.
    """
    try:
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=columns):
            frame = batch.to_pandas(ignore_metadata=True)
            frame.columns = [str(c).strip() for c in frame.columns]
            yield frame
    except Exception as exc:  # a corrupt page surfaces only when it is decoded
        raise UploadRejected("format", f"{name} is not a readable Parquet file: {exc}") from None


def _read_parquet(
    path: Path, name: str, symbol: str | None, max_rows: int | None, chunk_rows: int
) -> tuple[pd.DataFrame, pd.DataFrame, ColumnMapping, tuple[str, ...]]:
    """Read a Parquet file row batch by row batch into typed columns, decoding only the columns
    the mapping uses (as the CSV path, peak memory is about twice the typed frame).
    """
    handle, names = _open_parquet(path, name, max_rows)
    if handle.metadata.num_rows == 0:
        raise UploadRejected("empty", f"{name} has a header but no data rows")
    mapping = _mapping([c.strip() for c in names], symbol, name)  # matched stripped
    in_file = {c.strip(): c for c in names}
    used = dict.fromkeys([*mapping.columns.values(), *(mapping.date_time or ())])
    columns = _Columns(mapping, symbol, handle.metadata.num_rows)
    for raw in _parquet_chunks(handle, name, [in_file[c] for c in used], chunk_rows):
        columns.add(raw, None)

    def whole_stamps() -> pd.Series:
        stamps = mapping.date_time or (mapping.columns["timestamp"],)
        parts = _parquet_chunks(handle, name, [in_file[c] for c in stamps], chunk_rows)
        return pd.concat([_stamp_text(raw, mapping) for raw in parts], ignore_index=True)

    frame, parse_errors, symbols = columns.finish(whole_stamps)
    return frame, parse_errors, mapping, symbols


# --------------------------------------------------------------------------- typing


def _to_float(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and a mask of cells that hold text which is not a number."""
    if pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64").to_numpy()
        return values, np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(raw), dtype=bool)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan, copy=True
    )
    bad = np.zeros(len(raw), dtype=bool)
    nan_at = np.flatnonzero(np.isnan(values))
    if nan_at.size:
        text = raw.iloc[nan_at]
        present = text.notna().to_numpy()
        token = text.astype("str").str.strip().str.lower()
        missing = token.isin(MISSING_TOKENS).to_numpy()
        stripped = pd.to_numeric(text.astype("str").str.strip(), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        values[nan_at] = stripped
        bad[nan_at] = present & ~missing & np.isnan(stripped)
    return values, bad


def _errors(rows: np.ndarray, column: str, values: pd.Series, problem: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "column": column,
            "value": values.astype("str").where(values.notna(), "").to_numpy(dtype=object),
            "problem": problem,
        }
    )


def _mapping(columns: list[str], symbol: str | None, name: str) -> ColumnMapping:
    """Match the header; raise ``columns`` when a field is ambiguous or missing."""
    mapping = ColumnMapping(columns)
    if mapping.ambiguous:
        field_, names = next(iter(mapping.ambiguous.items()))
        raise UploadRejected(
            "columns",
            f"{name}: columns {', '.join(names)} all mean {field_!r}; keep one",
            ambiguous=mapping.ambiguous,
        )
    missing = mapping.missing()
    if "symbol" not in mapping.columns and symbol is None:
        missing.append("symbol")
    if missing:
        found = [str(c) for c in columns]
        hint = (
            " (pass the symbol argument or add a symbol/ticker column)"
            if "symbol" in missing
            else ""
        )
        raise UploadRejected(
            "columns",
            f"{name}: missing required column(s) {', '.join(missing)}{hint}; "
            f"the file has {', '.join(found) or 'no columns'}; accepted names: "
            + "; ".join(f"{k}: {', '.join(v)}" for k, v in ALIASES.items()),
            missing=missing,
            found=found,
        )
    return mapping


def _stamp_text(raw: pd.DataFrame, mapping: ColumnMapping) -> pd.Series:
    """The timestamp column as found (``Date`` + ``Time`` joined by a space)."""
    if mapping.date_time is None:
        return raw[mapping.columns["timestamp"]]
    date_col, time_col = mapping.date_time
    return (
        raw[date_col].astype("str").str.strip() + " " + raw[time_col].astype("str").str.strip()
    ).str.strip()


class _Columns:
    """Typed columns of an upload built chunk by chunk (rows numbered across chunks); the
    frame is assembled once by :meth:`finish`, so a chunk's text is dropped as soon as it is
    typed.
    """

    def __init__(self, mapping: ColumnMapping, symbol: str | None, capacity: int) -> None:
        self.mapping = mapping
        self.symbol = symbol
        self.capacity = capacity
        self.rows = 0
        self.parts: dict[str, ColumnBuffer] = {}
        self.symbol_errors: list[pd.DataFrame] = []
        self.value_errors: dict[str, list[pd.DataFrame]] = {c: [] for c in NUMERIC_FIELDS}
        self.stamps = ChunkedTimestamps(capacity)

    def _keep(self, column: str, values: np.ndarray) -> None:
        if column not in self.parts:
            self.parts[column] = ColumnBuffer(self.capacity, values.dtype)
        self.parts[column].append(values)

    def add(self, raw: pd.DataFrame, line: np.ndarray | None) -> None:
        """Type the next rows (``line``: their physical CSV lines, ``None`` for Parquet)."""
        mapping, symbol = self.mapping, self.symbol
        n = len(raw)
        rows = np.arange(self.rows, self.rows + n, dtype=np.int64)
        self._keep("row", rows)
        if line is not None:
            self._keep("line", line)
        if "symbol" in mapping.columns:
            # Strip/compare the few distinct symbols, not a million cells.
            codes, uniques = pd.factorize(raw[mapping.columns["symbol"]], use_na_sentinel=False)
            cleaned = np.array(
                ["" if pd.isna(u) else str(u).strip() for u in uniques], dtype=object
            )
            sym_values = cleaned[codes] if len(cleaned) else np.array([], dtype=object)
            if symbol is not None:
                differs = (cleaned != symbol)[codes]
                if differs.any():
                    self.symbol_errors.append(
                        _errors(
                            rows[differs], "symbol", pd.Series(sym_values[differs]), SYMBOL_MISMATCH
                        )
                    )
                sym_values = np.full(n, symbol, dtype=object)
        else:
            sym_values = np.full(n, symbol, dtype=object)
        self._keep("symbol", sym_values)
        self.stamps.add(_stamp_text(raw, mapping))
        for col in NUMERIC_FIELDS:
            if col not in mapping.columns:
                continue
            source = raw[mapping.columns[col]]
            values, bad = _to_float(source)
            if bad.any():
                self.value_errors[col].append(_errors(rows[bad], col, source[bad], NON_NUMERIC))
            self._keep(col, values)
        self.rows += n

    def finish(
        self, whole_stamps: Callable[[], pd.Series]
    ) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
        """``(frame, parse errors, distinct symbols)``; ``whole_stamps`` returns the whole
        timestamp column when the chunks cannot decide how to parse it (see
        :class:`~tradeopt_ml.data.timestamps.ChunkedTimestamps`).
        """
        stamps, nat_rows, nat_values = self.stamps.finish(whole_stamps)
        out: dict[str, object] = {}
        for column in ("row", "line", "symbol"):
            if column in self.parts:
                out[column] = self.parts.pop(column).result()
        out["timestamp"] = stamps
        for col in NUMERIC_FIELDS:
            if col in self.parts:
                out[col] = self.parts.pop(col).result()
        frame = pd.DataFrame(out, copy=False)  # the concatenated columns, not a copy
        errors = list(self.symbol_errors)
        if nat_rows.size:
            errors.append(_errors(nat_rows, "timestamp", nat_values, UNPARSEABLE_TIMESTAMP))
        for col in NUMERIC_FIELDS:
            errors.extend(self.value_errors[col])
        parse_errors = (
            pd.concat(errors, ignore_index=True)
            if errors
            else pd.DataFrame(
                {"row": np.array([], dtype=np.int64), "column": [], "value": [], "problem": []}
            )
        )
        distinct = tuple(str(s) for s in pd.unique(frame["symbol"]))
        return frame, parse_errors, distinct


def _read_csv(
    path: Path, name: str, symbol: str | None, max_rows: int | None, chunk_rows: int
) -> tuple[pd.DataFrame, pd.DataFrame, ColumnMapping, tuple[str, ...], str]:
    """Stream the CSV chunk by chunk into typed columns.

    File-level problems are raised in the order a whole-file read finds them: unreadable rows
    and too many rows, then no data rows, then missing or ambiguous columns.
    """
    layout = inspect_csv(path, name)
    chunks = iter_csv_chunks(path, layout, name, max_rows=max_rows, chunk_rows=chunk_rows)
    try:
        mapping = _mapping(layout.columns, symbol, name)
    except UploadRejected:
        if sum(len(raw) for raw, _ in chunks) == 0:  # the rows are read first, as before
            raise UploadRejected("empty", f"{name} has a header but no data rows") from None
        raise
    capacity = layout.max_rows if max_rows is None else min(layout.max_rows, max_rows)
    columns = _Columns(mapping, symbol, capacity)
    for raw, line in chunks:
        columns.add(raw, line)
    if columns.rows == 0:
        raise UploadRejected("empty", f"{name} has a header but no data rows")

    def whole_stamps() -> pd.Series:
        again = iter_csv_chunks(path, layout, name, chunk_rows=chunk_rows)
        return pd.concat([_stamp_text(raw, mapping) for raw, _ in again], ignore_index=True)

    frame, parse_errors, symbols = columns.finish(whole_stamps)
    return frame, parse_errors, mapping, symbols, layout.delimiter


def read_upload(
    path: Path,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    symbol: str | None = None,
    max_rows: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ParsedUpload:
    """Read an uploaded CSV or Parquet file into typed columns, rows in file order.

    Either format is read in chunks of ``chunk_rows`` rows: peak memory is about twice the
    typed frame (its columns, then the frame assembled from them), not a multiple of the file.

    Args:
        path: the uploaded bytes on disk.
        filename: the client's file name, used in messages only (the format comes from content).
        content_type: the declared media type; ``None`` skips the check.
        symbol: the symbol of a single-symbol upload (see the module notes for how it combines
            with a symbol column).
        max_rows: reject files with more data rows than this.
        chunk_rows: data rows typed at a time (the result does not depend on it).

    Raises:
        UploadRejected: empty, binary, wrong media type, unreadable, missing columns, bad
            symbol argument or too many rows.
    """
    name = filename or Path(path).name
    _check_media_type(content_type)
    if symbol is not None and not SYMBOL_PATTERN.match(symbol):
        raise UploadRejected(
            "symbol",
            f"invalid symbol {symbol!r}: 1-32 characters from A-Z a-z 0-9 . - _ ^ =",
            symbol=symbol,
        )
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise UploadRejected("empty", f"{name} is empty")
    delimiter: str | None = None
    fmt: Literal["csv", "parquet"]
    if head == b"PAR1":
        fmt = "parquet"
        frame, parse_errors, mapping, symbols = _read_parquet(
            Path(path), name, symbol, max_rows, chunk_rows
        )
    else:
        fmt = "csv"
        frame, parse_errors, mapping, symbols, delimiter = _read_csv(
            Path(path), name, symbol, max_rows, chunk_rows
        )
    return ParsedUpload(
        frame=frame,
        parse_errors=parse_errors,
        has_adjusted="adj_close" in frame.columns,
        format=fmt,
        delimiter=delimiter,
        columns=dict(mapping.columns),
        ignored_columns=mapping.ignored,
        symbols=symbols,
    )


def _in_bar_order(symbols: pd.Series, timestamps: pd.DatetimeIndex) -> bool:
    """Rows already sorted by ``(symbol, timestamp)`` (a file usually is): no sort needed."""
    codes, uniques = pd.factorize(symbols)
    names = list(uniques)
    if (codes < 0).any() or names != sorted(names):
        return False
    step = np.diff(codes)
    if (step < 0).any():
        return False
    ticks = timestamps.asi8
    return bool((ticks[1:] >= ticks[:-1])[step == 0].all()) and not timestamps.hasnans


def to_canonical_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """A validated working frame -> the canonical bar frame of :mod:`tradeopt_ml.data.bars`.

    Adds ``adj_close = close`` when absent, sorts by ``(symbol, timestamp)`` and drops the
    ``row``/``line`` bookkeeping columns. Columns that are already float64 are shared with
    ``frame`` (copy-on-write), and rows already in order are not sorted again.
    """
    work = frame
    if "adj_close" not in work.columns:
        work = work.assign(adj_close=work["close"])
    stamps = pd.DatetimeIndex(work["timestamp"]).as_unit("ns")
    symbols = work["symbol"].astype("str")
    out = pd.DataFrame(
        {
            "symbol": symbols,
            "timestamp": stamps,
            **{c: work[c].to_numpy(dtype="float64") for c in NUMERIC_FIELDS},
        },
        copy=False,
    )
    if not _in_bar_order(symbols, stamps):
        out = out.sort_values(["symbol", "timestamp"], kind="stable")
    if list(out.columns) != list(BAR_COLUMNS):
        out = out.loc[:, list(BAR_COLUMNS)]
    return out.reset_index(drop=True)


def prepare_upload(
    path: Path,
    filename: str | None = None,
    content_type: str | None = None,
    symbol: str | None = None,
    repairs: list[Repair] | tuple[Repair, ...] = (),
    min_rows: int = 30,
    *,
    max_rows: int | None = None,
    max_problems: int = 50,
) -> PreparedBars:
    """Read, repair (only what is asked), validate and canonicalise an upload.

    Raises:
        UploadRejected: a file-level problem (see :func:`read_upload`).
        BarsInvalid: row-level problems remain; ``exc.report`` lists them.
    """
    parsed = read_upload(
        path, filename=filename, content_type=content_type, symbol=symbol, max_rows=max_rows
    )
    frame, repair_report = apply_repairs(parsed.frame, list(repairs))
    report = validate(
        frame, parse_errors=parsed.parse_errors, min_rows=min_rows, max_problems=max_problems
    )
    if not report.ok:
        raise BarsInvalid(report)
    bars = to_canonical_bars(frame)
    symbols = tuple(sorted(bars["symbol"].unique().tolist()))
    return PreparedBars(
        frame=bars,
        report=repair_report,
        has_adjusted=parsed.has_adjusted,
        symbols=symbols,
        rows=len(bars),
        format=parsed.format,
        ignored_columns=list(parsed.ignored_columns),
    )
