"""Row-level validation of bar frames with a report of which rows fail and why (DESIGN §5).

:func:`validate` runs every check as a numpy mask over the whole frame (one pass per check, no
per-row Python), counts all failures and lists the first ``max_problems`` in file order. It
never raises for bad rows: the caller decides (``prepare_upload`` raises ``BarsInvalid``).

Checks, by their ``problem`` text: unparseable timestamp, duplicate timestamp (same symbol; the
later rows are flagged), timestamp earlier than the previous row (same symbol, in frame
order), non-numeric value, missing value, non-positive price, high below max(open, close), low
above min(open, close), high below low, negative volume, invalid symbol, symbol differs from the
upload symbol, too few rows (per symbol; no row number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

UNPARSEABLE_TIMESTAMP = "unparseable timestamp"
DUPLICATE_TIMESTAMP = "duplicate timestamp"
UNSORTED = "timestamp earlier than the previous row"
NON_NUMERIC = "non-numeric value"
MISSING_VALUE = "missing value"
NON_POSITIVE_PRICE = "non-positive price"
HIGH_BELOW_BODY = "high below max(open, close)"
LOW_ABOVE_BODY = "low above min(open, close)"
HIGH_BELOW_LOW = "high below low"
NEGATIVE_VOLUME = "negative volume"
INVALID_SYMBOL = "invalid symbol"
SYMBOL_MISMATCH = "symbol differs from the upload symbol"
TOO_FEW_ROWS = "too few rows"

TIMES = "\u00d7"  # the multiplication sign used in messages ("2 x missing value")
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
VALUE_FIELDS: tuple[str, ...] = (*PRICE_FIELDS, "volume")
_SYMBOL = re.compile(r"^[A-Za-z0-9.\-_^=]{1,32}$")


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of :func:`validate`.

    Attributes:
        problems: the first ``max_problems`` problems in file order, each
            ``{row, line, symbol, column, value, problem}`` (``row`` 0-based data row of the
            uploaded file, ``line`` the CSV line with header = 1, ``None`` when unknown).
        counts: problem -> number of occurrences over all rows.
        total: number of problems over all rows (sum of ``counts``).
        rows_failed: number of distinct rows with at least one problem.
        rows: number of rows checked.
        truncated: more problems exist than are listed.
    """

    problems: list[dict[str, object]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    rows_failed: int = 0
    rows: int = 0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """No problem found."""
        return self.total == 0

    def message(self) -> str:
        """One line: ``3 rows failed validation: 2 <TIMES> high below max(open, close), ...``."""
        if self.ok:
            return f"{self.rows} rows passed validation"
        parts = ", ".join(
            f"{n} {TIMES} {p}"
            for p, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        head = (
            f"{self.rows_failed} row{'s' if self.rows_failed != 1 else ''} failed validation"
            if self.rows_failed
            else "validation failed"
        )
        return f"{head}: {parts}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (the data service returns it in the problem document)."""
        return {
            "ok": self.ok,
            "message": self.message(),
            "total": self.total,
            "rows_failed": self.rows_failed,
            "rows": self.rows,
            "counts": dict(self.counts),
            "truncated": self.truncated,
            "problems": [dict(p) for p in self.problems],
        }


@dataclass
class _Finding:
    problem: str
    column: str | None
    positions: np.ndarray  # positions in the frame (int64)
    values: np.ndarray | None = None  # aligned with positions; None = read from the frame


def _py(value: object) -> object:
    """numpy/pandas scalar -> JSON-friendly Python value (NaN/NaT -> None)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def validate(
    frame: pd.DataFrame,
    *,
    parse_errors: pd.DataFrame | None = None,
    min_rows: int = 30,
    max_problems: int = 50,
) -> ValidationReport:
    """Check every row of ``frame`` and report problems in file order.

    Args:
        frame: a working frame from :func:`~tradeopt_ml.data.ingest.read_upload` (optionally
            repaired) or any frame with ``symbol, timestamp`` and the value columns. Optional
            ``row``/``line`` columns give file positions (default: the frame position / None).
            ``adj_close`` is checked only when present.
        parse_errors: ``row, column, value, problem`` from the parse step; entries for rows no
            longer in ``frame`` (dropped by a repair) are ignored.
        min_rows: fewest rows a symbol may have.
        max_problems: how many problems to list (all are counted).
    """
    n = len(frame)
    positions = np.arange(n, dtype=np.int64)
    row_ids = frame["row"].to_numpy(np.int64) if "row" in frame.columns else positions
    lines = frame["line"].to_numpy(np.int64) if "line" in frame.columns else None
    # Symbols as codes into their few distinct values: a listed problem looks its symbol up,
    # instead of every row becoming a Python string.
    codes, uniques = pd.factorize(frame["symbol"], use_na_sentinel=False)
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, errors="coerce"))
    nat = np.asarray(stamps.isna())
    ticks = stamps.as_unit("ns").asi8
    value_cols = [c for c in VALUE_FIELDS if c in frame.columns]
    values = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in value_cols}

    findings: list[_Finding] = []
    covered: dict[str, np.ndarray] = {}  # column -> positions already reported by parsing
    if parse_errors is not None and len(parse_errors):
        size = int(max(row_ids.max(initial=-1), parse_errors["row"].max())) + 1
        position_of_row = np.full(size, -1, dtype=np.int64)
        position_of_row[row_ids] = positions
        err_pos = position_of_row[parse_errors["row"].to_numpy(np.int64)]
        keep = err_pos >= 0
        errs = parse_errors.loc[keep]
        err_pos = err_pos[keep]
        for (problem, column), idx in errs.groupby(
            ["problem", "column"], sort=False
        ).indices.items():
            findings.append(
                _Finding(problem, column, err_pos[idx], errs["value"].to_numpy(dtype=object)[idx])
            )
            mask = covered.setdefault(column, np.zeros(n, dtype=bool))
            mask[err_pos[idx]] = True

    def add(problem: str, column: str | None, mask: np.ndarray) -> None:
        if mask.any():
            findings.append(_Finding(problem, column, np.flatnonzero(mask)))

    none = np.zeros(n, dtype=bool)
    ts_unreported = nat & ~covered.get("timestamp", none)
    add(UNPARSEABLE_TIMESTAMP, "timestamp", ts_unreported)
    for col in value_cols:
        add(MISSING_VALUE, col, np.isnan(values[col]) & ~covered.get(col, none))
    for col in PRICE_FIELDS:
        if col in values:
            add(NON_POSITIVE_PRICE, col, values[col] <= 0)
    if {"open", "high", "low", "close"} <= values.keys():
        op, hi, lo, cl = values["open"], values["high"], values["low"], values["close"]
        add(HIGH_BELOW_BODY, "high", hi < np.maximum(op, cl))
        add(LOW_ABOVE_BODY, "low", lo > np.minimum(op, cl))
        add(HIGH_BELOW_LOW, "high", hi < lo)
    if "volume" in values:
        add(NEGATIVE_VOLUME, "volume", values["volume"] < 0)
    bad_symbols = np.array(
        [not (isinstance(s, str) and _SYMBOL.match(s)) for s in uniques], dtype=bool
    )
    if bad_symbols.any():
        add(INVALID_SYMBOL, "symbol", bad_symbols[codes] & ~covered.get("symbol", none))

    valid = np.flatnonzero(~nat)
    if valid.size > 1:
        # (symbol, time, position) order: every repeat of a (symbol, time) pair after its
        # first row in the file is flagged (a sort needs less memory than a hash table).
        by_key = valid[np.lexsort((ticks[valid], codes[valid]))]
        repeat = (codes[by_key][1:] == codes[by_key][:-1]) & (
            ticks[by_key][1:] == ticks[by_key][:-1]
        )
        dup = np.zeros(n, dtype=bool)
        dup[by_key[1:][repeat]] = True
        del by_key, repeat
        add(DUPLICATE_TIMESTAMP, "timestamp", dup)
        order = valid[np.argsort(codes[valid], kind="stable")]
        same = codes[order][1:] == codes[order][:-1]
        earlier = same & (ticks[order][1:] < ticks[order][:-1])
        unsorted = np.zeros(n, dtype=bool)
        unsorted[order[1:][earlier]] = True
        add(UNSORTED, "timestamp", unsorted)

    counts: dict[str, int] = {}
    failed = np.zeros(n, dtype=bool)
    listed: list[tuple[int, int, dict[str, object]]] = []
    for rank, finding in enumerate(findings):
        counts[finding.problem] = counts.get(finding.problem, 0) + int(finding.positions.size)
        failed[finding.positions] = True
        file_rows = row_ids[finding.positions]
        take = np.argsort(file_rows, kind="stable")[:max_problems]
        for i in take:
            pos = int(finding.positions[i])
            if finding.values is not None:
                value = finding.values[i]
            elif finding.column == "timestamp" and finding.problem != UNPARSEABLE_TIMESTAMP:
                value = stamps[pos]
            elif finding.column in values:
                value = values[finding.column][pos]
            elif finding.column == "symbol":
                value = uniques[codes[pos]]
            else:
                value = None
            listed.append(
                (
                    int(file_rows[i]),
                    rank,
                    {
                        "row": int(file_rows[i]),
                        "line": None if lines is None else int(lines[pos]),
                        "symbol": _py(uniques[codes[pos]]),
                        "column": finding.column,
                        "value": _py(value),
                        "problem": finding.problem,
                    },
                )
            )
    listed.sort(key=lambda item: (item[0], item[1]))
    problems = [p for _, _, p in listed]

    per_symbol = np.bincount(codes, minlength=len(uniques)) if n else np.zeros(0, dtype=np.int64)
    few = [
        {
            "row": None,
            "line": None,
            "symbol": _py(uniques[i]),
            "column": None,
            "value": int(per_symbol[i]),
            "problem": TOO_FEW_ROWS,
        }
        for i in np.flatnonzero(per_symbol < min_rows)
    ]
    if n == 0:
        few = [
            {
                "row": None,
                "line": None,
                "symbol": None,
                "column": None,
                "value": 0,
                "problem": TOO_FEW_ROWS,
            }
        ]
    if few:
        counts[TOO_FEW_ROWS] = len(few)
    problems = few + problems
    total = sum(counts.values())
    return ValidationReport(
        problems=problems[:max_problems],
        counts=counts,
        total=total,
        rows_failed=int(failed.sum()),
        rows=n,
        truncated=total > max_problems,
    )
