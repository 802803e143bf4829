"""Parse an uploaded bar file (CSV or Parquet) into a typed frame in file order.

The data service streams an upload to a temporary file and calls :func:`read_upload` (or the
one-call :func:`prepare_upload`, which also repairs, validates and canonicalises). File-level
problems raise :class:`UploadRejected` at once; row-level problems are collected by
:func:`tradeopt_ml.data.validation.validate` into one report.

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

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from tradeopt_ml.data.bars import BAR_COLUMNS, BarValidationError
from tradeopt_ml.data.columns import ALIASES, ColumnMapping, normalise_name
from tradeopt_ml.data.repair import Repair, RepairReport, apply_repairs
from tradeopt_ml.data.timestamps import parse_timestamps
from tradeopt_ml.data.validation import (
    NON_NUMERIC,
    SYMBOL_MISMATCH,
    UNPARSEABLE_TIMESTAMP,
    ValidationReport,
    validate,
)

RejectKind = Literal[
    "empty", "binary", "media_type", "format", "columns", "symbol", "too_many_rows"
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
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none", "-", "#n/a"})
NUMERIC_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one; export it as CSV)"),
    (b"\x1f\x8b", "a gzip archive (upload the CSV uncompressed)"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"\xd0\xcf\x11\xe0", "an OLE document (e.g. a legacy .xls workbook; export it as CSV)"),
)


class UploadRejected(ValueError):
    """A file-level problem: the upload is unusable as a whole.

    ``kind`` is one of ``empty, binary, media_type, format, columns, symbol, too_many_rows``; the
    data service answers 415 for ``media_type`` and 422 for the others. ``details`` carries
    machine-readable context (e.g. ``missing`` and ``found`` columns).
    """

    def __init__(self, kind: RejectKind, message: str, **details: object) -> None:
        super().__init__(message)
        self.kind: RejectKind = kind
        self.message = message
        self.details: dict[str, object] = details

    def to_dict(self) -> dict[str, object]:
        """JSON-ready ``{kind, message, **details}``."""
        return {"kind": self.kind, "message": self.message, **self.details}


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


def _decode_text(data: bytes, name: str) -> str:
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            raise UploadRejected("binary", f"{name} is {what}, not a CSV or Parquet file")
    if b"\x00" in data:
        raise UploadRejected("binary", f"{name} contains NUL bytes; it is not a text CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            "binary",
            f"{name} is not valid UTF-8 text (byte {exc.start}); save the CSV as UTF-8",
        ) from None


def _sniff_delimiter(header: str) -> str:
    """The candidate delimiter occurring most often outside quotes (comma on a tie)."""
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


# --------------------------------------------------------------------------- readers


def _read_csv(data: bytes, name: str, max_rows: int | None) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Raw frame, the physical line number of each data row, and the delimiter.

    Symbol and timestamp columns are read as text; the C parser types the other columns
    (fast path); a column with stray text stays text and is converted cell by cell later.
    """
    text = _decode_text(data, name)
    if not text.strip():
        raise UploadRejected("empty", f"{name} is empty")
    lines_before = 0
    start = 0
    while True:  # leading blank lines before the header
        end = text.find("\n", start)
        if end == -1 or text[start:end].strip():
            break
        lines_before += 1
        start = end + 1
    text = text[start:]
    delimiter = _sniff_delimiter(text.split("\n", 1)[0])
    try:
        header = pd.read_csv(io.StringIO(text), sep=delimiter, nrows=0).columns
    except (pd.errors.ParserError, ValueError) as exc:
        raise UploadRejected("format", f"{name} is not a readable CSV: {exc}") from None
    as_text = {
        c
        for c in header
        if normalise_name(c) in ALIASES["symbol"] or normalise_name(c) in ALIASES["timestamp"]
    }
    tokens = sorted({t for m in MISSING_TOKENS for t in (m, m.upper(), m.capitalize())})
    na_values = {c: ([""] if c in as_text else tokens) for c in header}

    def read(nrows: int | None) -> pd.DataFrame:
        try:
            return pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                dtype=dict.fromkeys(as_text, "str"),
                keep_default_na=False,
                na_values=na_values,
                skip_blank_lines=False,
                nrows=nrows,
                engine="c",
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise UploadRejected("format", f"{name} is not a readable CSV: {exc}") from None

    limit = None if max_rows is None else max_rows + 1
    raw = read(limit)
    blank = _blank_rows(raw)
    if max_rows is not None and len(raw) == max_rows + 1 and int((~blank).sum()) <= max_rows:
        raw = read(None)  # blank lines ate into the limit: read all and count exactly
        blank = _blank_rows(raw)
    raw.columns = [str(c).strip() for c in raw.columns]
    line = np.flatnonzero(~blank).astype(np.int64) + 2 + lines_before
    if blank.any():
        raw = raw.loc[~blank].reset_index(drop=True)
    return raw, line, delimiter


def _blank_rows(raw: pd.DataFrame) -> np.ndarray:
    """Rows of a CSV line with nothing but whitespace."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return np.zeros(len(raw), dtype=bool)
    rest = raw.iloc[:, 1:].isna().all(axis=1).to_numpy() if raw.shape[1] > 1 else None
    candidates = np.flatnonzero(rest) if rest is not None else np.arange(len(raw))
    blank = np.zeros(len(raw), dtype=bool)
    if candidates.size:
        first = raw.iloc[candidates, 0]
        empty = first.isna() | (first.astype("str").str.strip() == "")
        blank[candidates[empty.to_numpy()]] = True
    return blank


def _read_parquet(path: Path, name: str, max_rows: int | None) -> pd.DataFrame:
    try:
        handle = pq.ParquetFile(path)
        n = handle.metadata.num_rows
        if max_rows is not None and n > max_rows:
            raise UploadRejected(
                "too_many_rows", f"{name} has {n} rows; the limit is {max_rows}", rows=n
            )
        table = handle.read()
    except UploadRejected:
        raise
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise UploadRejected("format", f"{name} is not a readable Parquet file: {exc}") from None
    frame = table.to_pandas()
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


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


def _build(
    raw: pd.DataFrame,
    line: np.ndarray | None,
    symbol: str | None,
    name: str,
) -> tuple[pd.DataFrame, pd.DataFrame, ColumnMapping, tuple[str, ...]]:
    mapping = ColumnMapping(raw.columns)
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
        found = [str(c) for c in raw.columns]
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
    n = len(raw)
    rows = np.arange(n, dtype=np.int64)
    out: dict[str, object] = {"row": rows}
    if line is not None:
        out["line"] = line
    errors: list[pd.DataFrame] = []

    if "symbol" in mapping.columns:
        # Strip/compare the few distinct symbols, not a million cells.
        codes, uniques = pd.factorize(raw[mapping.columns["symbol"]], use_na_sentinel=False)
        cleaned = np.array(["" if pd.isna(u) else str(u).strip() for u in uniques], dtype=object)
        sym_values = cleaned[codes] if len(cleaned) else np.array([], dtype=object)
        if symbol is not None:
            differs = (cleaned != symbol)[codes]
            if differs.any():
                errors.append(
                    _errors(
                        rows[differs], "symbol", pd.Series(sym_values[differs]), SYMBOL_MISMATCH
                    )
                )
            sym_values = np.full(n, symbol, dtype=object)
    else:
        sym_values = np.full(n, symbol, dtype=object)
    out["symbol"] = sym_values

    stamp_raw = raw[mapping.columns["timestamp"]]
    if mapping.date_time is not None:
        date_col, time_col = mapping.date_time
        stamp_raw = (
            raw[date_col].astype("str").str.strip() + " " + raw[time_col].astype("str").str.strip()
        ).str.strip()
    stamps = parse_timestamps(stamp_raw)
    bad_ts = stamps.isna().to_numpy()
    if bad_ts.any():
        errors.append(_errors(rows[bad_ts], "timestamp", stamp_raw[bad_ts], UNPARSEABLE_TIMESTAMP))
    out["timestamp"] = stamps.reset_index(drop=True)

    for col in NUMERIC_FIELDS:
        if col not in mapping.columns:
            continue
        source = raw[mapping.columns[col]]
        values, bad = _to_float(source)
        if bad.any():
            errors.append(_errors(rows[bad], col, source[bad], NON_NUMERIC))
        out[col] = values
    frame = pd.DataFrame(out)
    parse_errors = (
        pd.concat(errors, ignore_index=True)
        if errors
        else pd.DataFrame(
            {"row": np.array([], dtype=np.int64), "column": [], "value": [], "problem": []}
        )
    )
    distinct = tuple(str(s) for s in pd.unique(frame["symbol"]))
    return frame, parse_errors, mapping, distinct


def read_upload(
    path: Path,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    symbol: str | None = None,
    max_rows: int | None = None,
) -> ParsedUpload:
    """Read an uploaded CSV or Parquet file into typed columns, rows in file order.

    Args:
        path: the uploaded bytes on disk.
        filename: the client's file name, used in messages only (the format comes from content).
        content_type: the declared media type; ``None`` skips the check.
        symbol: the symbol of a single-symbol upload (see the module notes for how it combines
            with a symbol column).
        max_rows: reject files with more data rows than this.

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
    line: np.ndarray | None
    if head == b"PAR1":
        raw = _read_parquet(Path(path), name, max_rows)
        line, delimiter, fmt = None, None, "parquet"
    else:
        raw, line, delimiter = _read_csv(Path(path).read_bytes(), name, max_rows)
        fmt = "csv"
    if len(raw) == 0:
        raise UploadRejected("empty", f"{name} has a header but no data rows")
    if max_rows is not None and len(raw) > max_rows:
        raise UploadRejected(
            "too_many_rows",
            f"{name} has more than {max_rows} data rows",
            limit=max_rows,
        )
    frame, parse_errors, mapping, symbols = _build(raw, line, symbol, name)
    return ParsedUpload(
        frame=frame,
        parse_errors=parse_errors,
        has_adjusted="adj_close" in frame.columns,
        format=fmt,  # type: ignore[arg-type]
        delimiter=delimiter,
        columns=dict(mapping.columns),
        ignored_columns=mapping.ignored,
        symbols=symbols,
    )


def to_canonical_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """A validated working frame -> the canonical bar frame of :mod:`tradeopt_ml.data.bars`.

    Adds ``adj_close = close`` when absent, sorts by ``(symbol, timestamp)`` and drops the
    ``row``/``line`` bookkeeping columns.
    """
    work = frame
    if "adj_close" not in work.columns:
        work = work.assign(adj_close=work["close"])
    out = pd.DataFrame(
        {
            "symbol": work["symbol"].astype("str"),
            "timestamp": pd.DatetimeIndex(work["timestamp"]).as_unit("ns"),
            **{c: work[c].to_numpy(dtype="float64") for c in NUMERIC_FIELDS},
        }
    )
    out = out.sort_values(["symbol", "timestamp"], kind="stable")
    return out.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)


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
