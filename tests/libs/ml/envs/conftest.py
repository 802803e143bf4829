"""Tiny hand-made panels for the trading-environment tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tradeopt_ml.data import Panel


def _panel(close: np.ndarray, open_: np.ndarray | None = None) -> Panel:
    close = np.asarray(close, dtype=np.float64)
    if close.ndim == 1:
        close = close[:, None]
    open_ = close.copy() if open_ is None else np.asarray(open_, dtype=np.float64)
    if open_.ndim == 1:
        open_ = open_[:, None]
    t, n = close.shape
    stamps = np.datetime64("2024-01-01", "ns") + np.arange(t) * np.timedelta64(1, "D")
    return Panel(
        timestamps=stamps,
        symbols=tuple(f"S{i}" for i in range(n)),
        open=open_,
        high=np.maximum(open_, close) * 1.01,
        low=np.minimum(open_, close) * 0.99,
        close=close,
        adj_close=close.copy(),
        volume=np.ones((t, n)),
    )


@pytest.fixture
def make_panel() -> Callable[..., Panel]:
    """``make_panel(close, open=None)`` -> Panel with daily stamps (1-D input = one asset)."""
    return _panel


@pytest.fixture
def random_market() -> Callable[..., tuple[Panel, np.ndarray]]:
    """``random_market(T, N, F, seed, warmup)`` -> (GBM panel, float32 features, NaN warm-up)."""

    def build(t: int = 80, n: int = 1, f: int = 3, seed: int = 0, warmup: int = 3):
        rng = np.random.default_rng(seed)
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (t, n)), axis=0))
        open_ = close * np.exp(rng.normal(0.0, 0.005, (t, n)))
        feats = rng.normal(size=(t, n, f)).astype(np.float32)
        feats[:warmup] = np.nan
        return _panel(close, open_), feats

    return build
