"""Gauges of row counts, set from the database by a service's background refresh
(:func:`tradeopt_common.web.app.periodically`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def set_counts(
    session: AsyncSession, gauge: Gauge, column: Any, values: Iterable[StrEnum]
) -> None:
    """Set ``gauge{value}`` to the number of rows whose ``column`` holds each of ``values`` (0 for
    a value no row holds), e.g. runs by status.
    """
    rows = await session.execute(select(column, func.count()).group_by(column))
    counts: dict[Any, int] = dict(rows.all())
    for value in values:
        gauge.labels(value.value).set(counts.get(value.value, 0))
