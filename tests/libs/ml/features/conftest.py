"""Builders of tiny hand-made panels for the feature tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tradeopt_ml.data import Panel

PanelFactory = Callable[..., Panel]


def build_panel(
    close: np.ndarray | list[float],
    *,
    high: np.ndarray | list[float] | None = None,
    low: np.ndarray | list[float] | None = None,
    open_: np.ndarray | list[float] | None = None,
    adj_close: np.ndarray | list[float] | None = None,
    volume: np.ndarray | list[float] | None = None,
    start: str = "2024-01-01",
    symbols: tuple[str, ...] | None = None,
) -> Panel:
    """A panel from 1-D (one symbol) or 2-D ``(T, N)`` lists; missing fields derived from close."""

    def arr(x: np.ndarray | list[float] | None, fallback: np.ndarray) -> np.ndarray:
        if x is None:
            return fallback.copy()
        a = np.asarray(x, dtype=np.float64)
        return np.ascontiguousarray(a[:, None] if a.ndim == 1 else a)

    c = arr(close, np.empty(0))
    t, n = c.shape
    return Panel(
        timestamps=np.datetime64(start, "D").astype("datetime64[ns]")
        + np.arange(t) * np.timedelta64(1, "D"),
        symbols=symbols or tuple(f"S{i}" for i in range(n)),
        open=arr(open_, c),
        high=arr(high, c),
        low=arr(low, c),
        close=c,
        adj_close=arr(adj_close, c),
        volume=arr(volume, np.full((t, n), 1000.0)),
    )


@pytest.fixture
def make_panel() -> PanelFactory:
    """The :func:`build_panel` builder."""
    return build_panel
