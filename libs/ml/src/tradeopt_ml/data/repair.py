"""Explicit, opt-in repairs of a parsed bar frame, each with a report of what changed.

Nothing is repaired unless asked. Requested repairs always run in this order, whatever the order
of the request, because each relies on the previous one:

1. ``sort``: stable sort by ``(symbol, timestamp)``; rows with an unparseable timestamp go last
   within their symbol (validation still reports them).
2. ``drop_duplicates``: of rows with the same symbol and timestamp keep the **last one in file
   order** (a corrected bar appended to a file replaces the earlier one).
3. ``ffill``: fill missing prices/volume from the previous row of the same symbol in the
   current order, never backwards: a leading missing value stays and validation reports it.
   Cells holding non-numeric text are filled too, but the parse problem is still reported.

Validation runs after repairs (:func:`tradeopt_ml.data.ingest.prepare_upload`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

Repair = Literal["sort", "drop_duplicates", "ffill"]
REPAIRS: tuple[str, ...] = get_args(Repair)
FILL_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True)
class RepairAction:
    """What one repair changed.

    Attributes:
        repair: ``sort``, ``drop_duplicates`` or ``ffill``.
        changed: rows moved (sort), rows dropped (drop_duplicates) or cells filled (ffill).
        rows: the first affected file rows (0-based data-row index), at most ``max_listed``.
        detail: extra counts, e.g. cells filled per column.
    """

    repair: str
    changed: int
    rows: list[int] = field(default_factory=list)
    detail: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "repair": self.repair,
            "changed": self.changed,
            "rows": list(self.rows),
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class RepairReport:
    """The repairs applied, in order; empty when none was requested."""

    actions: list[RepairAction] = field(default_factory=list)

    @property
    def applied(self) -> list[str]:
        """Names of the repairs that ran (also those that changed nothing)."""
        return [a.repair for a in self.actions]

    @property
    def changed(self) -> bool:
        """Some repair changed the data."""
        return any(a.changed for a in self.actions)

    def get(self, repair: str) -> RepairAction | None:
        """The action of ``repair`` if it ran."""
        return next((a for a in self.actions if a.repair == repair), None)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"applied": self.applied, "actions": [a.to_dict() for a in self.actions]}


def _row_ids(frame: pd.DataFrame) -> np.ndarray:
    if "row" in frame.columns:
        return frame["row"].to_numpy(np.int64)
    return np.arange(len(frame), dtype=np.int64)


def _first(rows: np.ndarray, limit: int) -> list[int]:
    return [int(r) for r in np.sort(rows)[:limit]]


def _sort(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, RepairAction]:
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, errors="coerce"))
    ticks = stamps.as_unit("ns").asi8.copy()
    ticks[np.asarray(stamps.isna())] = np.iinfo(np.int64).max  # NaT last within a symbol
    symbols = frame["symbol"].astype("str").to_numpy(dtype=object)
    codes, _ = pd.factorize(symbols, sort=True)
    order = np.lexsort((ticks, codes))  # lexsort is stable
    moved = order != np.arange(len(frame))
    out = frame.iloc[order].reset_index(drop=True)
    rows = _row_ids(out)[moved]
    return out, RepairAction("sort", int(moved.sum()), _first(rows, limit))


def _drop_duplicates(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, RepairAction]:
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True, errors="coerce"))
    key = pd.DataFrame(
        {"s": frame["symbol"].to_numpy(dtype=object), "t": stamps.as_unit("ns").asi8}
    )
    # "Last in file order" even if the frame was not sorted: order by file row first.
    file_order = np.argsort(_row_ids(frame), kind="stable")
    dup_sorted = key.iloc[file_order].duplicated(keep="last").to_numpy()
    drop = np.zeros(len(frame), dtype=bool)
    drop[file_order[dup_sorted]] = True
    drop &= ~np.asarray(stamps.isna())  # unparseable timestamps are not duplicates
    out = frame.loc[~drop].reset_index(drop=True)
    return out, RepairAction(
        "drop_duplicates", int(drop.sum()), _first(_row_ids(frame)[drop], limit)
    )


def _ffill(frame: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, RepairAction]:
    cols = [c for c in FILL_FIELDS if c in frame.columns]
    before = frame[cols].isna().to_numpy()
    filled = frame.groupby("symbol", sort=False)[cols].ffill()
    after = filled.isna().to_numpy()
    changed = before & ~after
    out = frame.copy()
    out[cols] = filled.to_numpy(dtype="float64")
    per_col = {c: int(changed[:, i].sum()) for i, c in enumerate(cols) if changed[:, i].any()}
    rows = _row_ids(frame)[changed.any(axis=1)]
    return out, RepairAction("ffill", int(changed.sum()), _first(rows, limit), per_col)


def apply_repairs(
    frame: pd.DataFrame, repairs: list[Repair] | tuple[Repair, ...], *, max_listed: int = 20
) -> tuple[pd.DataFrame, RepairReport]:
    """Apply the requested repairs (see the module notes for order and semantics).

    Args:
        frame: a working frame (``symbol, timestamp`` and value columns; optional ``row``).
        repairs: any of ``"sort"``, ``"drop_duplicates"``, ``"ffill"``; duplicates ignored.
        max_listed: how many affected rows each action lists.

    Returns:
        The repaired frame (a new object; the input is not modified) and the report.

    Raises:
        ValueError: an unknown repair name.
    """
    unknown = [r for r in repairs if r not in REPAIRS]
    if unknown:
        raise ValueError(f"unknown repair(s) {', '.join(map(str, unknown))}; choose from {REPAIRS}")
    actions: list[RepairAction] = []
    out = frame
    steps = {"sort": _sort, "drop_duplicates": _drop_duplicates, "ffill": _ffill}
    for name in REPAIRS:
        if name in repairs:
            out, action = steps[name](out, max_listed)
            actions.append(action)
    if out is frame:
        # A new object sharing the columns: copy-on-write keeps the input unmodified without
        # holding every column twice.
        out = frame.copy(deep=False)
    return out, RepairReport(actions)
