"""Read an uploaded CSV file in chunks of rows, never whole into memory.

:func:`inspect_csv` checks the bytes as a stream (binary signatures, NUL bytes, UTF-8 validity,
emptiness), skips blank lines before the header, sniffs the delimiter and reads the header.
:func:`iter_csv_chunks` then yields raw frames of at most ``chunk_rows`` data rows with the
physical line of each row, blank lines dropped, so memory is bounded by one chunk plus what the
caller keeps (typed columns), not by the file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeopt_ml.data.columns import ALIASES, normalise_name
from tradeopt_ml.data.rejects import UploadRejected

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none", "-", "#n/a"})
#: Data rows per chunk: ~1.6 MB of typical bar CSV text. The parser's transient memory grows
#: with the chunk (~0.5 KiB a row of two text columns); smaller chunks cost a little time.
CHUNK_ROWS = 16_384
_SCAN_BYTES = 1 << 20

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


@dataclass(frozen=True)
class CsvLayout:
    """Where the table starts and how to read it.

    Attributes:
        offset: byte offset of the header line (after a BOM and leading blank lines).
        lines_before: blank lines before the header.
        delimiter: the sniffed delimiter.
        header: the header's column names as pandas reads them (before stripping).
        as_text: columns read as text (symbol and timestamp aliases).
        max_rows: an upper bound on the data rows (the lines after the header).
    """

    offset: int
    lines_before: int
    delimiter: str
    header: tuple[str, ...]
    as_text: frozenset[str]
    max_rows: int

    @property
    def columns(self) -> list[str]:
        """Column names with surrounding whitespace stripped (what the rows are keyed by)."""
        return [str(c).strip() for c in self.header]


def _check_text(path: Path, name: str) -> tuple[int, int]:
    """Raise ``binary``/``empty`` for a file that is not non-blank UTF-8 text, reading it in
    blocks; returns the length of a UTF-8 BOM (0 or 3) and the number of line feeds.

    The checks and messages are those of a whole-file decode: a known binary signature first,
    then NUL bytes anywhere, then the first invalid UTF-8 byte (offset after the BOM).
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
        for magic, what in _BINARY_SIGNATURES:
            if head.startswith(magic):
                raise UploadRejected("binary", f"{name} is {what}, not a CSV or Parquet file")
        bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        fh.seek(bom)
        decoder = codecs.getincrementaldecoder("utf-8")()
        position = 0
        bad_at: int | None = None
        any_text = False
        newlines = 0
        while block := fh.read(_SCAN_BYTES):
            newlines += block.count(b"\n")
            if b"\x00" in block:
                raise UploadRejected(
                    "binary", f"{name} contains NUL bytes; it is not a text CSV file"
                )
            if bad_at is None:
                pending = len(decoder.getstate()[0])
                try:
                    any_text = bool(decoder.decode(block).strip()) or any_text
                except UnicodeDecodeError as exc:
                    bad_at = position - pending + exc.start
            position += len(block)
        if bad_at is None:
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                bad_at = position - pending + exc.start
    if bad_at is not None:
        raise UploadRejected(
            "binary", f"{name} is not valid UTF-8 text (byte {bad_at}); save the CSV as UTF-8"
        )
    if not any_text:
        raise UploadRejected("empty", f"{name} is empty")
    return bom, newlines


def sniff_delimiter(header: str) -> str:
    """The candidate delimiter occurring most often outside quotes (comma on a tie)."""
    outside = re.sub(r'"[^"]*"', "", header)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def inspect_csv(path: Path, name: str) -> CsvLayout:
    """Check the file is UTF-8 text with a header and find how to read it.

    Raises:
        UploadRejected: ``binary`` (signature, NUL, invalid UTF-8), ``empty`` (only
            whitespace) or ``format`` (the header cannot be read).
    """
    offset, newlines = _check_text(path, name)
    lines_before = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:  # leading blank lines before the header
            raw_line = fh.readline()
            if not raw_line.endswith(b"\n") or raw_line.decode("utf-8").strip():
                break
            lines_before += 1
            offset += len(raw_line)
        header_line = raw_line.decode("utf-8").split("\n", 1)[0]
        delimiter = sniff_delimiter(header_line)
        fh.seek(offset)
        try:
            header = pd.read_csv(fh, sep=delimiter, nrows=0, encoding="utf-8").columns
        except (pd.errors.ParserError, ValueError) as exc:
            raise UploadRejected("format", f"{name} is not a readable CSV: {exc}") from None
    as_text = frozenset(
        c
        for c in header
        if normalise_name(c) in ALIASES["symbol"] or normalise_name(c) in ALIASES["timestamp"]
    )
    max_rows = max(newlines - lines_before, 0)  # lines = line feeds + 1, one is the header
    return CsvLayout(offset, lines_before, delimiter, tuple(header), as_text, max_rows)


def blank_rows(raw: pd.DataFrame) -> np.ndarray:
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


def iter_csv_chunks(
    path: Path,
    layout: CsvLayout,
    name: str,
    *,
    max_rows: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield ``(raw rows, physical line of each row)`` chunk by chunk, blank lines dropped.

    Symbol and timestamp columns are read as text; the C parser types the other columns per
    chunk (a column with stray text stays text in that chunk and is converted cell by cell by
    the caller). Lines count from 1 at the header.

    Raises:
        UploadRejected: ``format`` (a row pandas cannot parse) or ``too_many_rows`` (more than
            ``max_rows`` data rows; raised without reading further).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    tokens = sorted({t for m in MISSING_TOKENS for t in (m, m.upper(), m.capitalize())})
    na_values = {c: ([""] if c in layout.as_text else tokens) for c in layout.header}
    columns = layout.columns
    raw_seen = 0  # CSV records read so far, blank ones included
    rows_seen = 0
    with open(path, "rb") as fh:
        fh.seek(layout.offset)
        try:
            reader = pd.read_csv(
                fh,
                sep=layout.delimiter,
                dtype=dict.fromkeys(layout.as_text, "str"),
                keep_default_na=False,
                na_values=na_values,
                skip_blank_lines=False,
                encoding="utf-8",
                engine="c",
                chunksize=chunk_rows,
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise UploadRejected("format", f"{name} is not a readable CSV: {exc}") from None
        with reader:
            while True:
                size = chunk_rows
                if max_rows is not None:  # never read past the record that breaks the limit
                    size = min(size, max_rows + 1 - rows_seen)
                try:
                    raw = reader.get_chunk(size)
                except StopIteration:
                    return
                except (pd.errors.ParserError, ValueError) as exc:
                    raise UploadRejected("format", f"{name} is not a readable CSV: {exc}") from None
                if len(raw) == 0:
                    return
                blank = blank_rows(raw)
                line = np.flatnonzero(~blank).astype(np.int64) + raw_seen + 2
                line += layout.lines_before
                raw_seen += len(raw)
                if blank.any():
                    raw = raw.loc[~blank]
                raw = raw.reset_index(drop=True)
                raw.columns = columns
                rows_seen += len(raw)
                if max_rows is not None and rows_seen > max_rows:
                    raise UploadRejected(
                        "too_many_rows",
                        f"{name} has more than {max_rows} data rows",
                        limit=max_rows,
                    )
                yield raw, line
