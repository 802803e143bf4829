"""Instants a client may name in a request: one rule for every service (DESIGN §3).

* A date alone is midnight UTC (``"2023-09-29"``) — except as an inclusive end bound
  (:data:`UtcEndDateTime`), where it covers the whole day (``23:59:59.999999``); a date-time
  without an offset is UTC; a date-time with an offset is converted to UTC. The value is always
  timezone-aware afterwards, so nothing downstream meets a naive date-time.
* Bars are stored as nanosecond timestamps, which cover 1677-09-21 .. 2262-04-11; an instant
  outside :data:`EARLIEST` .. :data:`LATEST` is refused with a message naming the range (a 422 at
  the API) instead of overflowing later.

Use :data:`UtcDateTime` as the field type of request models (:data:`UtcEndDateTime` for an
inclusive ``end``). Answers write instants one way, :func:`iso_utc` (``2020-01-02T14:30:00Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BeforeValidator

#: The first and last instants a request may name (inside the nanosecond timestamp range).
EARLIEST = datetime(1678, 1, 1, tzinfo=UTC)
LATEST = datetime(2261, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def iso_utc(value: datetime | date | pd.Timestamp | np.datetime64 | int) -> str:
    """The instant as every answer writes it: ISO 8601 in UTC with ``Z``
    (``2020-01-02T14:30:00Z``); naive values and nanosecond integers are UTC (DESIGN §3).
    """
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.tz_localize(None).isoformat() + "Z"


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC date-time (naive = UTC), inside :data:`EARLIEST`..:data:`LATEST`.

    Raises:
        ValueError: the instant is outside the representable range.
    """
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    try:
        out = aware.astimezone(UTC)
    except OverflowError:
        out = None
    if out is None or not EARLIEST <= out <= LATEST:
        raise ValueError(
            f"{value.isoformat()} is outside the supported range "
            f"{EARLIEST.date().isoformat()} .. {LATEST.date().isoformat()}"
        )
    return out


_DATE_ONLY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def _whole_date(value: object) -> date | None:
    """The calendar date of a date-only value (a ``date`` or a ``YYYY-MM-DD`` string)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and (match := _DATE_ONLY.match(value)):
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            return None  # pydantic reports the bad date
    return None


def _date_at_start(value: object) -> object:
    day = _whole_date(value)
    return value if day is None else datetime.combine(day, time(), tzinfo=UTC)


def _date_at_end(value: object) -> object:
    day = _whole_date(value)
    return value if day is None else datetime.combine(day, time.max, tzinfo=UTC)


#: A request field holding an instant: dates, naive and zoned date-times in, aware UTC out.
UtcDateTime = Annotated[datetime, BeforeValidator(_date_at_start), AfterValidator(as_utc)]

#: An inclusive end bound: like :data:`UtcDateTime`, but a date alone covers its whole day.
UtcEndDateTime = Annotated[datetime, BeforeValidator(_date_at_end), AfterValidator(as_utc)]

__all__ = ["EARLIEST", "LATEST", "UtcDateTime", "UtcEndDateTime", "as_utc"]
