"""Helpers for the upload-ingest tests: write small CSV files in a temp folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

HEADER = "date,open,high,low,close,volume"


def good_rows(n: int, start: str = "2024-01-01", price: float = 100.0) -> list[str]:
    """``n`` valid daily bars as CSV lines (no header), consecutive calendar days."""
    days = np.datetime64(start) + np.arange(n)
    lines = []
    for i, day in enumerate(days):
        p = price + i
        lines.append(f"{day},{p},{p + 2},{p - 1},{p + 1},{1000 + i}")
    return lines


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``lines`` (header included) to ``name`` and return the path."""

    def write(lines: list[str], name: str = "bars.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def rows() -> Callable[..., list[str]]:
    """The :func:`good_rows` factory."""
    return good_rows
