"""The HTML tear sheet renders, is self-contained and shows the numbers."""

import re

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.evaluation import compute_metrics, render_report

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def example():
    rng = np.random.default_rng(5)
    ts = pd.date_range("2021-01-04", periods=400, freq="B", tz="UTC").tz_convert(None).to_numpy()
    bench = 100 * np.cumprod(1 + rng.normal(0.0004, 0.01, 400))
    pos = (np.arange(400) // 50 % 2).astype(float)  # in and out every 50 bars
    strat = 100 * np.cumprod(1 + np.r_[0.0, pos[:-1] * (bench[1:] / bench[:-1] - 1)])
    metrics = {
        "strategy": compute_metrics(strat, bars_per_year=252, positions=pos, benchmark=bench),
        "buy_and_hold": compute_metrics(bench, bars_per_year=252, positions=np.ones(400)),
    }
    page = render_report(
        timestamps=ts,
        equity=strat,
        benchmark_equity=bench,
        positions=pos,
        metrics=metrics,
        title="PPO <test> report",
        notes=["fills at next open, 5 bps"],
    )
    return page, metrics


def test_sections_present(example):
    page, _ = example
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    for sid in ("metrics", "equity", "drawdown", "monthly", "rolling-sharpe", "positions"):
        assert f'<h2 id="{sid}">' in page
    assert page.count("<svg") == 5  # equity, 2 drawdowns, rolling sharpe, positions
    assert "<polyline" in page and "<polygon" in page
    assert "2021" in page and "2022" in page  # monthly table years


def test_numbers_and_columns_shown(example):
    page, metrics = example
    assert "<th>strategy</th><th>buy_and_hold</th>" in page
    sharpe = metrics["strategy"]["sharpe"]
    assert f"{sharpe:.3f}" in page
    assert f"{metrics['buy_and_hold']['max_drawdown'] * 100:.2f}%" in page
    assert "<th>information_ratio</th>" in page
    assert "&ndash;" in page  # None cells (beta of buy_and_hold has no benchmark)


def test_self_contained_and_escaped(example):
    page, _ = example
    assert not re.search(r"https?://|src=|href=|@import|url\(", page)
    assert "<script" not in page
    assert "PPO &lt;test&gt; report" in page and "<test>" not in page
    assert "fills at next open, 5 bps" in page


def test_long_series_are_downsampled():
    n = 20_000
    ts = (np.datetime64("1990-01-01") + np.arange(n)).astype("datetime64[ns]")
    eq = np.cumprod(1 + np.random.default_rng(0).normal(0, 0.01, n))
    page = render_report(
        timestamps=ts, equity=eq, metrics={"s": compute_metrics(eq, bars_per_year=252)}
    )
    points = max(len(m.split()) for m in re.findall(r'points="([^"]*)"', page))
    assert points <= 1600
    assert "positions" not in re.findall(r'<h2 id="([^"]+)"', page)
    assert len(page) < 400_000


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        render_report(timestamps=np.zeros(3, "datetime64[ns]"), equity=np.ones(4), metrics={})
