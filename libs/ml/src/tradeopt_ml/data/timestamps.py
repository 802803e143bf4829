"""Vectorised timestamp parsing for uploads: ISO strings, epochs, common date layouts -> UTC.

Rules (documented for the data API):

* ISO 8601 dates and datetimes, with or without a UTC offset; naive values are taken as UTC and
  a date alone is midnight UTC.
* Numbers are epochs; the unit follows the magnitude of the median value: seconds (< 1e11),
  milliseconds (< 1e14), microseconds (< 1e17), else nanoseconds. Whole numbers that all look
  like ``YYYYMMDD`` (between 18000101 and 22001231) are read as dates instead.
* Text columns are tried as ISO first; when most values fail and most are numbers, they are
  epochs (as above); otherwise a few common layouts are tried (``%m/%d/%Y``, ``%d/%m/%Y``,
  ``%d.%m.%Y``, ...) and the one that parses the most values wins (month-first on a tie).

Values that cannot be parsed become ``NaT``; the caller reports them row by row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tradeopt_ml.data.buffers import ColumnBuffer

#: Resolution of every parsed timestamp (matches :class:`tradeopt_ml.data.Panel`).
UNIT = "ns"

_FALLBACK_FORMATS: tuple[str, ...] = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%Y%m%d %H:%M:%S",
)


def _utc(values: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Typed datetimes -> tz-aware UTC at :data:`UNIT` resolution (naive = UTC)."""
    out = pd.Series(pd.DatetimeIndex(values))
    out = out.dt.tz_localize("UTC") if out.dt.tz is None else out.dt.tz_convert("UTC")
    return out.dt.as_unit(UNIT)


def _from_numbers(numbers: pd.Series) -> pd.Series:
    """Epoch seconds/ms/us/ns (by magnitude) or ``YYYYMMDD`` integers -> UTC timestamps."""
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return pd.Series(pd.NaT, index=numbers.index, dtype=f"datetime64[{UNIT}, UTC]")
    whole = bool(np.all(finite == np.floor(finite)))
    if whole and finite.min() >= 18_000_101 and finite.max() <= 22_001_231:
        text = pd.Series(np.where(np.isfinite(values), values, 0).astype(np.int64)).astype(str)
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce", utc=True)
        parsed[~np.isfinite(values)] = pd.NaT
        return _utc(parsed).set_axis(numbers.index)
    magnitude = float(np.median(np.abs(finite)))
    unit = (
        "s"
        if magnitude < 1e11
        else "ms"
        if magnitude < 1e14
        else "us"
        if magnitude < 1e17
        else "ns"
    )
    # Beyond ~year 2262 the ns range overflows; coerce makes those NaT instead of raising.
    limit = {"s": 9.2e9, "ms": 9.2e12, "us": 9.2e15, "ns": 9.2e18}[unit]
    safe = np.where(np.abs(values) < limit, values, np.nan)
    parsed = pd.to_datetime(pd.Series(safe), unit=unit, errors="coerce", utc=True)
    return _utc(parsed).set_axis(numbers.index)


def _is_text(values: pd.Series) -> bool:
    """Not typed datetimes or numbers: :func:`parse_timestamps` reads it as text."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return False
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _iso_attempt(values: pd.Series) -> tuple[pd.Series, pd.Series, int, int]:
    """Text values parsed as ISO 8601, one value at a time (blank and failed values are
    ``NaT``): ``(text with blanks as NaN, parsed, number present, number failed)``.
    """
    blank = values.isna().to_numpy().copy()
    text = values.astype("str").where(~blank, "")
    blank |= (text == "").to_numpy()
    n_present = int((~blank).sum())
    text = text.where(~blank)
    if n_present == 0:
        nat = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[{UNIT}, UTC]")
        return text, nat, 0, 0
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    failed = int(parsed[~blank].isna().sum())
    return text, parsed, n_present, failed


class ChunkedTimestamps:
    """:func:`parse_timestamps` over a column that arrives chunk by chunk, same result.

    ISO 8601 text is parsed chunk by chunk and kept as 8 bytes a row. The choice between ISO,
    epochs and the fallback layouts is made on the whole column, so when ISO is not the answer
    (more than half the present values fail it) or a chunk is not text, :meth:`finish` parses
    the whole column it is given again with :func:`parse_timestamps`.
    """

    def __init__(self, capacity: int = 0) -> None:
        """An empty column of about ``capacity`` rows (an upper bound avoids copies)."""
        self._ticks = ColumnBuffer(capacity, np.int64)
        self._nat_positions: list[np.ndarray] = []
        self._nat_values: list[pd.Series] = []
        self._rows = 0
        self._present = 0
        self._failed = 0
        self._whole = False

    def add(self, values: pd.Series) -> None:
        """Parse the next chunk of the column."""
        n = len(values)
        if not self._whole and _is_text(values):
            _, parsed, present, failed = _iso_attempt(values)
            self._present += present
            self._failed += failed
            ticks = pd.DatetimeIndex(_utc(parsed)).asi8
            nat = ticks == np.iinfo(np.int64).min
            self._ticks.append(ticks)
            if nat.any():
                self._nat_positions.append(np.flatnonzero(nat) + self._rows)
                self._nat_values.append(values[nat].reset_index(drop=True))
        else:
            self._whole = True
            self._ticks = ColumnBuffer(0, np.int64)
        self._rows += n

    def finish(self, whole: Callable[[], pd.Series]) -> tuple[pd.Series, np.ndarray, pd.Series]:
        """``(parsed column, positions of NaT rows, their source values)``.

        Args:
            whole: returns the entire column (RangeIndex); called only when the chunks cannot
                decide (not ISO text, or not text).
        """
        if self._whole or self._failed * 2 > self._present:
            source = whole().reset_index(drop=True)
            parsed = parse_timestamps(source)
            nat = parsed.isna().to_numpy()
            return parsed, np.flatnonzero(nat).astype(np.int64), source[nat]
        ticks = self._ticks.result()
        parsed = pd.Series(pd.DatetimeIndex(ticks.view(f"datetime64[{UNIT}]")).tz_localize("UTC"))
        positions = (
            np.concatenate(self._nat_positions) if self._nat_positions else np.zeros(0, np.int64)
        )
        values = (
            pd.concat(self._nat_values, ignore_index=True)
            if self._nat_values
            else pd.Series([], dtype=object)
        )
        return parsed, positions.astype(np.int64), values


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse a column of timestamps to ``datetime64[ns, UTC]``; failures become ``NaT``.

    Args:
        values: typed datetimes (e.g. from Parquet), dates, numbers (epochs) or strings.

    Returns:
        A Series with the same index as ``values``.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return _utc(values).set_axis(values.index)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _from_numbers(values)
    text, parsed, n_present, failed = _iso_attempt(values)
    if n_present == 0:
        return parsed
    if failed * 2 > n_present:
        blank = text.isna().to_numpy()
        numbers = pd.to_numeric(text.str.strip(), errors="coerce")
        if int(numbers[~blank].isna().sum()) * 2 <= n_present:
            return _from_numbers(numbers)
        stripped = text.str.strip()
        best, best_failed = parsed, failed
        for fmt in _FALLBACK_FORMATS:
            candidate = pd.to_datetime(stripped, format=fmt, errors="coerce", utc=True)
            n_failed = int(candidate[~blank].isna().sum())
            if n_failed < best_failed:
                best, best_failed = candidate, n_failed
            if n_failed == 0:
                break
        parsed = best
    return _utc(parsed).set_axis(values.index)
