"""Risk limits of a strategy, checked before every order and after every bar.

Pure functions over floats: the paper engine (:mod:`tradeopt_ml.paper.engine`) calls
:func:`check_order` before it sends an order to its broker and :func:`breach` on every marked
portfolio value; a breach flattens the book and halts the session with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class RiskLimits(BaseModel):
    """What a strategy may do; every limit is optional (``None``: not checked).

    Weights are signed fractions of the portfolio value (the policy's own unit).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_position: float | None = Field(
        None, gt=0, le=10, description="Largest absolute target weight per asset."
    )
    max_drawdown: float | None = Field(
        None, gt=0, lt=1, description="Halt (flatten first) once equity / peak - 1 <= -this."
    )
    max_daily_loss: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Halt (flatten first) once the loss since the last close of the previous "
        "UTC day reaches this fraction.",
    )
    max_order_size: float | None = Field(
        None, gt=0, le=20, description="Largest absolute weight change of one order per asset."
    )
    allowed_hours: list[str] | None = Field(
        None,
        max_length=24,
        description='UTC windows "HH:MM-HH:MM" in which orders may be placed (intraday); '
        "decisions outside them are rejected.",
    )

    @field_validator("allowed_hours")
    @classmethod
    def _hours(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if not _HOURS.match(item):
                raise ValueError(f'{item!r} is not "HH:MM-HH:MM"')
        return value

    def windows(self) -> list[tuple[time, time]]:
        """The allowed-hours windows as ``(start, end)`` times (end inclusive)."""
        out = []
        for item in self.allowed_hours or []:
            a, b = item.split("-")
            out.append((time.fromisoformat(a), time.fromisoformat(b)))
        return out


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """The verdict on one intended order: ``target`` may be reduced (continuous actions)."""

    allowed: bool
    target: np.ndarray
    reason: str | None = None


def check_order(
    limits: RiskLimits,
    current: np.ndarray,
    target: np.ndarray,
    when: np.datetime64,
    *,
    can_reduce: bool,
) -> OrderCheck:
    """Check an order moving weights ``current`` to ``target`` at bar time ``when``.

    Args:
        limits: the strategy's limits.
        current: ``(N,)`` weights held now.
        target: ``(N,)`` target weights.
        when: the decision bar's timestamp (UTC, naive ``datetime64``).
        can_reduce: continuous policies get their target clipped to the limits (the order is
            reduced); discrete ones (fixed levels) are rejected instead.

    Returns:
        The verdict with the (possibly reduced) target and the reason of a rejection or cut.
    """
    target = np.asarray(target, dtype=np.float64)
    windows = limits.windows()
    if windows:
        stamp: Any = np.asarray(when, dtype="datetime64[m]")[()].astype(object)
        now = time(stamp.hour, stamp.minute)
        if not any(a <= now <= b for a, b in windows):
            return OrderCheck(False, current, f"outside allowed hours at {now.isoformat()} UTC")
    reasons = []
    if limits.max_position is not None and (np.abs(target) > limits.max_position + 1e-12).any():
        if not can_reduce:
            return OrderCheck(
                False, current, f"target weight above max_position {limits.max_position}"
            )
        target = np.clip(target, -limits.max_position, limits.max_position)
        reasons.append(f"target clipped to max_position {limits.max_position}")
    if limits.max_order_size is not None:
        step = target - current
        if (np.abs(step) > limits.max_order_size + 1e-12).any():
            if not can_reduce:
                return OrderCheck(
                    False, current, f"order larger than max_order_size {limits.max_order_size}"
                )
            target = current + np.clip(step, -limits.max_order_size, limits.max_order_size)
            reasons.append(f"order cut to max_order_size {limits.max_order_size}")
    return OrderCheck(True, target, "; ".join(reasons) or None)


def _day(when: Any) -> int:
    """The UTC day of a bar timestamp, as days since 1970-01-01 (a plain int: compared per bar)."""
    return int(np.asarray(when, dtype="datetime64[D]").astype(np.int64))


@dataclass(slots=True)
class RiskState:
    """Running peak and day-start value of a session (restored by replaying its bars)."""

    peak: float
    day: int | None = None
    day_start: float = 0.0
    last: float = 0.0

    def observe(self, value: float, when: np.datetime64, day: int | None = None) -> None:
        """Record the value marked at bar ``when`` (after :func:`breach` looked at it);
        ``day``: its UTC day number when the caller has it (see :func:`_day`).
        """
        self.peak = max(self.peak, value)
        if day is None:
            day = _day(when)
        if self.day is None or day != self.day:
            self.day, self.day_start = day, self.last
        self.last = value

    def __post_init__(self) -> None:
        self.last = self.last or self.peak


def breach(
    limits: RiskLimits,
    state: RiskState,
    value: float,
    when: np.datetime64,
    day: int | None = None,
) -> str | None:
    """The reason to flatten and halt when ``value`` (marked at bar ``when``; ``day``: its UTC
    day number when the caller has it) breaks the drawdown or daily-loss limit; ``None``
    otherwise. Call before :meth:`RiskState.observe`.
    """
    peak = max(state.peak, value)
    if limits.max_drawdown is not None and value / peak - 1.0 <= -limits.max_drawdown:
        return (
            f"max_drawdown breached: equity {value:.2f} is {1 - value / peak:.2%} below the "
            f"peak {peak:.2f} (limit {limits.max_drawdown:.2%})"
        )
    if limits.max_daily_loss is not None:
        if day is None:
            day = _day(when)
        start = state.day_start if day == state.day else state.last
        if start > 0 and value / start - 1.0 <= -limits.max_daily_loss:
            return (
                f"max_daily_loss breached: equity {value:.2f} is {1 - value / start:.2%} below "
                f"the day's start {start:.2f} (limit {limits.max_daily_loss:.2%})"
            )
    return None
