"""Aligned price arrays: the one in-memory shape every computation stage reads.

A :class:`Panel` holds ``T`` timestamps x ``N`` symbols of OHLCV as C-contiguous float64
arrays of shape ``(T, N)``, prepared once from a canonical bar frame
(:mod:`tradeopt_ml.data.bars`). Features, environments, splits and backtests all take a Panel,
so no stage re-parses pandas frames in a hot loop.

Conventions (DESIGN §5): returns and rewards use ``adj_close`` (equal to ``close`` when the
source had no adjusted prices; ``has_adjusted`` says which); fills use the raw ``open``/``close``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradeopt_ml.data.bars import BAR_COLUMNS

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")

#: Seconds per bar -> bars per year, for annualisation (daily equities trade 252 days a year).
_SECONDS_PER_DAY = 86_400.0


def bars_per_year_for_step(step_seconds: float) -> float:
    """Annualisation factor for bars ``step_seconds`` apart: 252 for daily bars, 52 weekly,
    12 monthly, and 252 sessions of 6.5 hours for intraday bars (the one rule every stage uses).
    """
    if step_seconds <= 0:
        return 252.0
    days = step_seconds / _SECONDS_PER_DAY
    if days >= 25:
        return 12.0
    if days >= 5:
        return 52.0
    if days >= 0.9:
        return 252.0
    return 252.0 * 6.5 * 3600.0 / step_seconds


def _common(symbols: pd.Series, stamps: pd.Series, chosen: tuple[str, ...]) -> pd.Index:
    """Sorted timestamps every chosen symbol has."""
    common: pd.Index | None = None
    for sym in chosen:
        own = pd.Index(stamps[symbols == sym].unique())
        common = own if common is None else common.intersection(own)
    assert common is not None
    return common.sort_values()


def _bars_per_year_of(timestamps: np.ndarray) -> float:
    if timestamps.shape[0] < 2:
        return 252.0
    step = float(np.median(np.diff(timestamps).astype("timedelta64[s]").astype(np.int64)))
    return bars_per_year_for_step(step)


def bars_per_year_of_bars(frame: pd.DataFrame) -> float:
    """``Panel.from_bars(frame).bars_per_year()`` without building the panel's arrays (the
    timestamps all symbols share are enough); 252 when they share none.
    """
    present = tuple(sorted(frame["symbol"].astype(str).unique().tolist()))
    ts = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)).tz_convert(None)
    stamps = pd.Series(ts.as_unit("ns"), index=frame.index)
    common = _common(frame["symbol"].astype(str), stamps, present)
    if len(common) == 0:
        return 252.0
    return _bars_per_year_of(common.to_numpy(dtype="datetime64[ns]"))


def _frozen(values: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only copy."""
    out = np.array(values, copy=True, order="C")
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Panel:
    """``T`` aligned bars of ``N`` symbols. Arrays are ``(T, N)`` float64, rows oldest first.

    Arrays are read-only C-contiguous copies: a Panel can be shared by many environments and
    threads without defensive copying.
    """

    timestamps: np.ndarray  # (T,) datetime64[ns], UTC, strictly increasing
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    has_adjusted: bool = True
    #: Rows of the source frame dropped per symbol by alignment (dates not common to all).
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def n_bars(self) -> int:
        """Number of aligned timestamps ``T``."""
        return int(self.timestamps.shape[0])

    @property
    def n_assets(self) -> int:
        """Number of symbols ``N``."""
        return len(self.symbols)

    @classmethod
    def from_bars(
        cls, frame: pd.DataFrame, symbols: list[str] | tuple[str, ...] | None = None
    ) -> Panel:
        """Pivot a canonical bar frame to arrays, keeping only timestamps every symbol has.

        ``symbols`` selects and orders the symbols (default: sorted unique symbols of the frame).
        Raises ``ValueError`` for an unknown symbol or when no timestamp is common to all.
        """
        missing_cols = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing_cols:
            raise ValueError(f"not a canonical bar frame; missing {', '.join(missing_cols)}")
        present = sorted(frame["symbol"].astype(str).unique().tolist())
        chosen = tuple(symbols) if symbols is not None else tuple(present)
        unknown = [s for s in chosen if s not in present]
        if unknown:
            raise ValueError(f"symbol(s) not in the dataset: {', '.join(unknown)}")
        if not chosen:
            raise ValueError("a panel needs at least one symbol")
        ts = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)).tz_convert(None)
        work = frame.assign(_ts=ts.as_unit("ns"))
        work = work[work["symbol"].isin(chosen)]
        counts = work.groupby("symbol")["_ts"].nunique()
        common = _common(work["symbol"], work["_ts"], chosen)
        if len(common) == 0:
            raise ValueError("the symbols share no timestamp")
        dropped = {s: int(counts.get(s, 0)) - len(common) for s in chosen}
        wide = work.pivot_table(
            index="_ts", columns="symbol", values=list(FIELDS), aggfunc="last"
        ).reindex(common)
        arrays = {
            f: _frozen(wide[f].reindex(columns=list(chosen)).to_numpy(np.float64)) for f in FIELDS
        }
        has_adjusted = not bool(np.array_equal(arrays["adj_close"], arrays["close"]))
        return cls(
            timestamps=_frozen(common.to_numpy(dtype="datetime64[ns]")),
            symbols=chosen,
            has_adjusted=has_adjusted,
            dropped={k: v for k, v in dropped.items() if v},
            **arrays,
        )

    def slice(self, start: int, stop: int) -> Panel:
        """Rows ``start:stop`` (half-open, bar indices) as a new Panel sharing no mutable state."""
        if not 0 <= start < stop <= self.n_bars:
            raise ValueError(f"bad slice [{start}, {stop}) of {self.n_bars} bars")
        arrays = {f: _frozen(getattr(self, f)[start:stop]) for f in FIELDS}
        return Panel(
            timestamps=_frozen(self.timestamps[start:stop]),
            symbols=self.symbols,
            has_adjusted=self.has_adjusted,
            dropped=dict(self.dropped),
            **arrays,
        )

    def field(self, name: str) -> np.ndarray:
        """One of :data:`FIELDS` as a ``(T, N)`` array."""
        if name not in FIELDS:
            raise ValueError(f"unknown field {name!r}; choose one of {', '.join(FIELDS)}")
        return getattr(self, name)

    def bars_per_year(self) -> float:
        """Annualisation factor from the median bar spacing: 252 for daily bars, 252*6.5*60 for
        one-minute bars of a 6.5-hour session, 52 weekly, 12 monthly.
        """
        return _bars_per_year_of(self.timestamps)

    def to_bars(self) -> pd.DataFrame:
        """Back to a canonical long frame sorted by ``(symbol, timestamp)``."""
        t, n = self.n_bars, self.n_assets
        frame = pd.DataFrame(
            {
                "symbol": np.repeat(np.array(self.symbols, dtype=object), t),
                "timestamp": pd.DatetimeIndex(np.tile(self.timestamps, n)).tz_localize("UTC"),
                **{f: getattr(self, f).T.reshape(-1) for f in FIELDS},
            }
        )
        return frame.loc[:, list(BAR_COLUMNS)]
