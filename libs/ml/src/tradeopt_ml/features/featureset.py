"""``FeatureSet``: computed features as one ``(T, N, F)`` float32 array plus labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def leading_nan_rows(values: np.ndarray) -> np.ndarray:
    """Per feature of a ``(T, N, F)`` array: leading rows where any asset is not finite."""
    ok = np.isfinite(values).all(axis=1)  # (T, F)
    first = np.argmax(ok, axis=0)
    return np.where(ok.any(axis=0), first, values.shape[0])


def _check_shape(
    values: np.ndarray,
    columns: Sequence[str],
    symbols: Sequence[str],
    timestamps: np.ndarray,
) -> None:
    expected = (np.shape(timestamps)[0], len(symbols), len(columns))
    if values.ndim != 3 or values.shape != expected:
        raise ValueError(
            f"values {values.shape} do not match {expected[0]} timestamps, "
            f"{expected[1]} symbols and {expected[2]} columns"
        )


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Features of ``N`` symbols over ``T`` bars.

    Attributes:
        values: ``(T, N, F)`` float32; warm-up rows are NaN (never back-filled).
        columns: The ``F`` feature names.
        symbols: The ``N`` symbols, in panel order.
        timestamps: ``(T,)`` datetime64[ns] (UTC, naive), the panel's bar timestamps.
        warmup: Per column, the number of leading rows where some symbol has no finite value.
        spec_hash: :meth:`FeatureSpec.hash` of the spec that produced the values, if known.
    """

    values: np.ndarray
    columns: tuple[str, ...]
    symbols: tuple[str, ...]
    timestamps: np.ndarray
    warmup: dict[str, int]
    spec_hash: str | None = None

    def __post_init__(self) -> None:
        _check_shape(self.values, self.columns, self.symbols, self.timestamps)

    @classmethod
    def build(
        cls,
        values: np.ndarray,
        columns: list[str] | tuple[str, ...],
        symbols: list[str] | tuple[str, ...],
        timestamps: np.ndarray,
        spec_hash: str | None = None,
    ) -> FeatureSet:
        """Construct from arrays, measuring the warm-up from the values."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        _check_shape(values, columns, symbols, timestamps)
        counts = leading_nan_rows(values)
        return cls(
            values=values,
            columns=tuple(columns),
            symbols=tuple(symbols),
            timestamps=np.asarray(timestamps, dtype="datetime64[ns]"),
            warmup={c: int(w) for c, w in zip(columns, counts, strict=True)},
            spec_hash=spec_hash,
        )

    @property
    def n_bars(self) -> int:
        """Number of rows ``T``."""
        return int(self.values.shape[0])

    @property
    def warmup_bars(self) -> int:
        """Overall warm-up: the largest per-column warm-up."""
        return max(self.warmup.values(), default=0)

    @property
    def valid_from(self) -> int:
        """First row index where every feature of every symbol is finite (``T`` if none)."""
        ok = np.isfinite(self.values).all(axis=(1, 2))
        return int(np.argmax(ok)) if ok.any() else self.n_bars

    def column(self, name: str) -> np.ndarray:
        """One feature as a ``(T, N)`` view."""
        try:
            j = self.columns.index(name)
        except ValueError:
            raise KeyError(f"no feature column {name!r}") from None
        return self.values[:, :, j]

    def to_frame(self) -> pd.DataFrame:
        """Long frame ``symbol, timestamp, <columns>`` sorted by ``(symbol, timestamp)``.

        Timestamps are tz-aware UTC (as in canonical bar frames); values stay float32.
        """
        t, n, f = self.values.shape
        flat = self.values.transpose(1, 0, 2).reshape(n * t, f)
        frame = pd.DataFrame(flat, columns=list(self.columns), copy=True)
        stamps = pd.DatetimeIndex(np.tile(self.timestamps, n)).tz_localize("UTC")
        frame.insert(0, "timestamp", stamps)
        frame.insert(0, "symbol", np.repeat(np.array(self.symbols, dtype=object), t))
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, spec_hash: str | None = None) -> FeatureSet:
        """Inverse of :meth:`to_frame`. Symbols keep their order of first appearance.

        Raises ``ValueError`` unless every symbol has exactly the same timestamps.
        """
        for col in ("symbol", "timestamp"):
            if col not in frame.columns:
                raise ValueError(f"not a feature frame: missing column {col!r}")
        columns = [c for c in frame.columns if c not in ("symbol", "timestamp")]
        symbols = list(pd.unique(frame["symbol"].astype(str)))
        stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
        ns = stamps.tz_convert(None).as_unit("ns").asi8
        grid = np.unique(ns)
        t, n = grid.shape[0], len(symbols)
        sym_idx = pd.Index(symbols).get_indexer(frame["symbol"].astype(str))
        row_idx = np.searchsorted(grid, ns)
        flat = sym_idx * t + row_idx
        if len(frame) != n * t or np.unique(flat).shape[0] != n * t:
            raise ValueError("feature frame is not a complete symbol x timestamp grid")
        values = np.empty((n * t, len(columns)), dtype=np.float32)
        values[flat] = frame[columns].to_numpy(dtype=np.float32)
        return cls.build(
            values.reshape(n, t, len(columns)).transpose(1, 0, 2),
            columns,
            symbols,
            grid.astype("datetime64[ns]"),
            spec_hash=spec_hash,
        )
