"""Time splits (train / validation / test) and walk-forward folds. Never shuffles across time.

Everything works on a sorted timestamp array (``(T,)`` ``datetime64[ns]``, e.g.
:attr:`tradeopt_ml.data.Panel.timestamps`) and returns half-open bar-index ranges
(:class:`Segment`), so callers slice their prepared arrays once
(``panel.slice(seg.start, seg.stop)`` or :meth:`Segment.take`).

Conventions:

- Date bounds are *inclusive*. A bare date (``"2020-06-30"``) means the whole calendar day
  (UTC): the part ends at the last bar on or before that day, so a date that falls on a weekend
  or holiday picks the last trading bar before it. A date-time means "bars with timestamp <=
  that instant" (naive date-times are UTC).
- ``embargo`` bars are dropped at the *start* of each later part (the earlier part keeps its
  requested end), so features/labels that look a few bars back/ahead cannot straddle two parts.
  The parts plus the embargo gaps cover the data exactly.
- Walk-forward folds are laid out from the start of the range: fold ``k`` tests on
  ``[s + train_bars + embargo + k * step, ... + test_bars)``; a rolling train window holds the
  ``train_bars`` bars before the embargo gap, an expanding (anchored) one every bar from the start
  of the range. ``max_folds`` keeps the first folds.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tradeopt_ml.instants import iso_utc

__all__ = [
    "Fold",
    "FoldSpec",
    "Segment",
    "SplitSpec",
    "Splits",
    "make_splits",
    "walk_forward",
]

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FRACTION_TOLERANCE = 1e-9


def _parse_when(value: Any) -> Any:
    """Strings ``YYYY-MM-DD`` become dates (whole day); other strings and timestamps date-times."""
    if isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY.match(text):
            return date.fromisoformat(text)
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"not an ISO 8601 date or date-time: {value!r}") from exc
        if pd.isna(stamp):  # "", "NaT", "nan": pandas reads them as no time at all
            raise ValueError(f"not an ISO 8601 date or date-time: {value!r}")
        return stamp.to_pydatetime()
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("not a date or date-time: NaT")
        return pd.Timestamp(value).to_pydatetime()
    return value


#: An inclusive date bound: a calendar date (whole day, UTC) or an instant.
DateBound = Annotated[date | datetime, BeforeValidator(_parse_when)]


def _iso(ts: pd.Timestamp) -> str:
    """ISO 8601 UTC with a ``Z`` suffix."""
    return iso_utc(ts)


def _bound_ns(when: date | datetime) -> int:
    """Exclusive upper bound in ns since the epoch (UTC) for an inclusive date/date-time bound."""
    if isinstance(when, datetime):
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(ts.as_unit("ns").value) + 1
    next_day = pd.Timestamp(when + timedelta(days=1), tz="UTC")
    return int(next_day.as_unit("ns").value)


def _start_ns(when: date | datetime) -> int:
    """Inclusive lower bound in ns since the epoch (UTC) for a start date/date-time."""
    ts = pd.Timestamp(when)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _as_ns(timestamps: np.ndarray | pd.DatetimeIndex | Sequence[Any]) -> np.ndarray:
    """Timestamps as int64 ns since the epoch (UTC); ValueError unless strictly increasing."""
    index = pd.DatetimeIndex(timestamps)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    ns = index.as_unit("ns").asi8
    if ns.size == 0:
        raise ValueError("no timestamps: cannot split an empty series")
    step = np.diff(ns)
    if step.size and (step <= 0).any():
        bad = int(np.flatnonzero(step <= 0)[0]) + 1
        kind = "duplicate" if step[bad - 1] == 0 else "unsorted"
        raise ValueError(
            f"timestamps must be strictly increasing; {kind} timestamp at position {bad} "
            f"({pd.Timestamp(ns[bad], tz='UTC').isoformat()})"
        )
    return ns


@dataclass(frozen=True)
class Segment:
    """A contiguous, half-open range ``[start, stop)`` of bar indices.

    Attributes:
        name: Part name (``train``, ``validation``, ``test``).
        start: First bar index (inclusive).
        stop: One past the last bar index.
        start_time: Timestamp of the first bar (UTC).
        end_time: Timestamp of the last bar (UTC).
    """

    name: str
    start: int
    stop: int
    start_time: pd.Timestamp
    end_time: pd.Timestamp

    @property
    def n_bars(self) -> int:
        """Number of bars in the segment."""
        return self.stop - self.start

    def as_slice(self) -> slice:
        """The segment as a Python slice over the first (time) axis."""
        return slice(self.start, self.stop)

    def take(self, array: np.ndarray) -> np.ndarray:
        """Rows of ``array`` (time on axis 0) inside the segment (a view, no copy)."""
        return array[self.start : self.stop]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form; times are ISO 8601 UTC strings."""
        return {
            "name": self.name,
            "start": self.start,
            "stop": self.stop,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "n_bars": self.n_bars,
        }


def _segment(name: str, ns: np.ndarray, start: int, stop: int) -> Segment:
    assert 0 <= start < stop <= ns.size, (name, start, stop, ns.size)
    return Segment(
        name=name,
        start=int(start),
        stop=int(stop),
        start_time=pd.Timestamp(ns[start], tz="UTC"),
        end_time=pd.Timestamp(ns[stop - 1], tz="UTC"),
    )


class SplitSpec(BaseModel):
    """How to cut a series into train / validation / test, by fractions or by dates.

    Give either fractions (``train``, ``test`` and optionally ``validation``, summing to 1) or dates
    (``train_end`` and optionally ``validation_end``; test is the rest), never both. With nothing
    given the split is 70 / 15 / 15 by fractions.

    Attributes:
        train: Fraction of bars for training (> 0).
        validation: Fraction for validation (>= 0; 0 means no validation part).
        test: Fraction for testing (> 0).
        train_end: Inclusive last date (or instant) of the training part.
        validation_end: Inclusive last date (or instant) of the validation part.
        embargo: Bars dropped at the start of each later part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: float | None = Field(default=None, gt=0, lt=1)
    validation: float | None = Field(default=None, ge=0, lt=1)
    test: float | None = Field(default=None, gt=0, lt=1)
    train_end: DateBound | None = None
    validation_end: DateBound | None = None
    embargo: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_mode(self) -> SplitSpec:
        fractions = (self.train, self.validation, self.test)
        has_fraction = any(f is not None for f in fractions)
        has_date = self.train_end is not None or self.validation_end is not None
        if has_fraction and has_date:
            raise ValueError(
                "give either fractions (train/validation/test) or dates "
                "(train_end/validation_end), not both"
            )
        if has_date:
            if self.train_end is None:
                raise ValueError("validation_end needs train_end")
            if self.validation_end is not None and _bound_ns(self.validation_end) <= _bound_ns(
                self.train_end
            ):
                raise ValueError(
                    f"validation_end ({self.validation_end}) must be after "
                    f"train_end ({self.train_end})"
                )
            return self
        if not has_fraction:
            object.__setattr__(self, "train", 0.70)
            object.__setattr__(self, "validation", 0.15)
            object.__setattr__(self, "test", 0.15)
            return self
        if self.train is None or self.test is None:
            raise ValueError("fraction splits need both train and test (validation is optional)")
        if self.validation is None:
            object.__setattr__(self, "validation", 0.0)
        total = self.train + (self.validation or 0.0) + self.test
        if abs(total - 1.0) > _FRACTION_TOLERANCE:
            raise ValueError(
                f"train + validation + test must sum to 1, got {total:.12g} "
                f"({self.train} + {self.validation} + {self.test})"
            )
        return self

    @property
    def mode(self) -> Literal["fractions", "dates"]:
        """``"dates"`` when cut by ``train_end``/``validation_end``, else ``"fractions"``."""
        return "dates" if self.train_end is not None else "fractions"


@dataclass(frozen=True)
class Splits:
    """The result of :func:`make_splits`.

    Attributes:
        train: Training part.
        validation: Validation part, or ``None`` when the spec asks for none.
        test: Test part.
        embargo: Bars dropped at the start of each later part.
        n_bars: Length of the whole series.
    """

    train: Segment
    validation: Segment | None
    test: Segment
    embargo: int
    n_bars: int

    def __iter__(self) -> Iterator[Segment]:
        """The non-empty parts in time order."""
        yield self.train
        if self.validation is not None:
            yield self.validation
        yield self.test

    def get(self, name: str) -> Segment:
        """The part called ``name``; ``KeyError`` if it does not exist (e.g. no validation)."""
        for seg in self:
            if seg.name == name:
                return seg
        raise KeyError(f"no {name!r} part in this split")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO 8601 UTC times)."""
        return {
            "train": self.train.as_dict(),
            "validation": self.validation.as_dict() if self.validation is not None else None,
            "test": self.test.as_dict(),
            "embargo": self.embargo,
            "n_bars": self.n_bars,
        }


def _fraction_cut(n: int, fraction: float) -> int:
    """Bars in the first ``fraction`` of ``n`` (round half up, robust to float noise)."""
    return int(np.floor(n * fraction + 0.5 + 1e-9))


def _date_cut(ns: np.ndarray, when: date | datetime, label: str) -> int:
    """Number of bars on or before ``when`` (the stop index of a part ending at ``when``)."""
    cut = int(np.searchsorted(ns, _bound_ns(when), side="left"))
    first = pd.Timestamp(ns[0], tz="UTC").isoformat()
    last = pd.Timestamp(ns[-1], tz="UTC").isoformat()
    if cut == 0:
        raise ValueError(f"{label} {when} is before the first bar ({first})")
    if cut >= ns.size:
        raise ValueError(
            f"{label} {when} is on or after the last bar ({last}); nothing left after it"
        )
    return cut


def make_splits(
    timestamps: np.ndarray | pd.DatetimeIndex | Sequence[Any],
    spec: SplitSpec | None = None,
    *,
    min_bars: int = 1,
) -> Splits:
    """Cut a sorted series into train / validation / test by time.

    Args:
        timestamps: ``(T,)`` strictly increasing timestamps (``datetime64[ns]`` or tz-aware).
        spec: Fractions or dates and the embargo; default 70 / 15 / 15.
        min_bars: Minimum bars every part must keep (after the embargo).

    Returns:
        The parts as :class:`Segment` s; ``validation`` is ``None`` when the spec has none.

    Raises:
        ValueError: unsorted or duplicate timestamps, a date outside the data, or a part with
            fewer than ``min_bars`` bars.
    """
    if min_bars < 1:
        raise ValueError(f"min_bars must be >= 1, got {min_bars}")
    spec = spec or SplitSpec()
    ns = _as_ns(timestamps)
    n = ns.size
    if spec.mode == "dates":
        assert spec.train_end is not None
        train_stop = _date_cut(ns, spec.train_end, "train_end")
        val_stop = (
            _date_cut(ns, spec.validation_end, "validation_end")
            if spec.validation_end is not None
            else train_stop
        )
    else:
        assert spec.train is not None
        assert spec.validation is not None
        train_stop = _fraction_cut(n, spec.train)
        val_stop = (
            _fraction_cut(n, spec.train + spec.validation) if spec.validation > 0 else train_stop
        )
    if spec.mode == "dates":
        has_validation = spec.validation_end is not None
    else:
        has_validation = bool(spec.validation)
    k = spec.embargo
    bounds: list[tuple[str, int, int]] = [("train", 0, train_stop)]
    if has_validation:
        bounds.append(("validation", train_stop + k, val_stop))
        bounds.append(("test", val_stop + k, n))
    else:
        bounds.append(("test", train_stop + k, n))
    for name, start, stop in bounds:
        if stop - start < min_bars:
            raise ValueError(
                f"{name} part has {max(stop - start, 0)} bar(s) (bars {start}..{stop} of {n}"
                f"{f', after an embargo of {k}' if k and name != 'train' else ''}); "
                f"need at least {min_bars}"
            )
    segments = {name: _segment(name, ns, start, stop) for name, start, stop in bounds}
    return Splits(
        train=segments["train"],
        validation=segments.get("validation"),
        test=segments["test"],
        embargo=k,
        n_bars=n,
    )


class FoldSpec(BaseModel):
    """Walk-forward layout.

    Attributes:
        train_bars: Bars in the (first) training window.
        test_bars: Bars in each test window.
        step_bars: Bars between consecutive test starts (default ``test_bars``; smaller values
            make test windows overlap, which :func:`walk_forward` warns about).
        embargo_bars: Bars dropped between each training window and its test window.
        expanding: Anchored training window growing from the start of the range (``True``) or a
            rolling window of ``train_bars`` bars (``False``).
        max_folds: Keep at most this many folds (the first ones).
        start: Inclusive first date (or instant) of the range to use.
        end: Inclusive last date (or instant) of the range to use.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_bars: int = Field(ge=1)
    test_bars: int = Field(ge=1)
    step_bars: int | None = Field(default=None, ge=1)
    embargo_bars: int = Field(default=0, ge=0)
    expanding: bool = False
    max_folds: int | None = Field(default=None, ge=1)
    start: DateBound | None = None
    end: DateBound | None = None

    @model_validator(mode="after")
    def _check(self) -> FoldSpec:
        if self.step_bars is None:
            object.__setattr__(self, "step_bars", self.test_bars)
        if (
            self.start is not None
            and self.end is not None
            and _bound_ns(self.end) <= _start_ns(self.start)
        ):
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self

    @property
    def step(self) -> int:
        """Bars between consecutive test starts."""
        return int(self.step_bars if self.step_bars is not None else self.test_bars)

    @property
    def overlapping_tests(self) -> bool:
        """Whether consecutive test windows share bars (``step_bars < test_bars``)."""
        return self.step < self.test_bars


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on ``train``, evaluate on ``test``.

    Attributes:
        index: Fold number, 0-based, in time order.
        train: Training window.
        test: Test window (starts ``embargo_bars`` after ``train.stop``).
    """

    index: int
    train: Segment
    test: Segment

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (ISO 8601 UTC times)."""
        return {"index": self.index, "train": self.train.as_dict(), "test": self.test.as_dict()}


def _range_bounds(ns: np.ndarray, spec: FoldSpec) -> tuple[int, int]:
    lo = 0 if spec.start is None else int(np.searchsorted(ns, _start_ns(spec.start), side="left"))
    hi = ns.size if spec.end is None else int(np.searchsorted(ns, _bound_ns(spec.end), side="left"))
    if hi <= lo:
        first = pd.Timestamp(ns[0], tz="UTC").isoformat()
        last = pd.Timestamp(ns[-1], tz="UTC").isoformat()
        raise ValueError(
            f"no bars between start={spec.start} and end={spec.end} (data covers {first} .. {last})"
        )
    return lo, hi


def walk_forward(
    timestamps: np.ndarray | pd.DatetimeIndex | Sequence[Any], spec: FoldSpec
) -> list[Fold]:
    """Lay out walk-forward folds over a sorted series.

    Guarantees: ``fold.train.stop + embargo_bars == fold.test.start``; every fold lies inside the
    data (and inside ``start``/``end``); test windows do not overlap when
    ``step_bars >= test_bars`` (otherwise a ``UserWarning`` says they do).

    Args:
        timestamps: ``(T,)`` strictly increasing timestamps.
        spec: The fold layout.

    Returns:
        At least one :class:`Fold`, in time order.

    Raises:
        ValueError: unsorted timestamps, an empty ``start``/``end`` range, or a range too short for
            a single fold.
    """
    ns = _as_ns(timestamps)
    lo, hi = _range_bounds(ns, spec)
    available = hi - lo
    first_test = lo + spec.train_bars + spec.embargo_bars
    n_folds = (
        0
        if first_test + spec.test_bars > hi
        else (hi - first_test - spec.test_bars) // spec.step + 1
    )
    if n_folds == 0:
        where = "" if spec.start is None and spec.end is None else " between start and end"
        raise ValueError(
            f"no walk-forward fold fits: {available} bar(s){where}, one fold needs "
            f"train_bars + embargo_bars + test_bars = {spec.train_bars} + {spec.embargo_bars} + "
            f"{spec.test_bars} = {spec.train_bars + spec.embargo_bars + spec.test_bars}"
        )
    if spec.max_folds is not None:
        n_folds = min(n_folds, spec.max_folds)
    if spec.overlapping_tests and n_folds > 1:
        warnings.warn(
            f"walk-forward test windows overlap: step_bars={spec.step} < "
            f"test_bars={spec.test_bars}; fold results are not independent",
            UserWarning,
            stacklevel=2,
        )
    folds: list[Fold] = []
    for k in range(n_folds):
        test_start = first_test + k * spec.step
        train_stop = test_start - spec.embargo_bars
        train_start = lo if spec.expanding else train_stop - spec.train_bars
        folds.append(
            Fold(
                index=k,
                train=_segment("train", ns, train_start, train_stop),
                test=_segment("test", ns, test_start, test_start + spec.test_bars),
            )
        )
    return folds
