"""summarize(): hand-checked figures on a tiny frame, calendar gaps, spacing gaps, SPY sanity."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.data.summary import summarize

pytestmark = pytest.mark.unit


def _bars(stamps, adj, symbol="T", volume=None) -> pd.DataFrame:
    adj = np.asarray(adj, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": pd.DatetimeIndex(stamps, tz="UTC").as_unit("ns"),
            "open": adj,
            "high": adj,
            "low": adj,
            "close": adj,
            "adj_close": adj,
            "volume": np.arange(len(adj), dtype=float) * 10 if volume is None else volume,
        }
    )


def test_hand_checked_figures_and_nyse_gaps() -> None:
    # NYSE sessions 2024-07-01..2024-07-09: Jul 1, 2, 3, 5, 8, 9 (Jul 4 holiday, 6-7 weekend).
    stamps = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04", "2024-07-08", "2024-07-09"]
    adj = [100.0, 110.0, 99.0, 104.5, 88.0, 120.0]
    out = summarize(_bars(stamps, adj))["T"]
    assert out["first"] == "2024-07-01T00:00:00Z"
    assert out["last"] == "2024-07-09T00:00:00Z"
    assert out["rows"] == 6
    assert out["total_return"] == pytest.approx(0.2)
    logret = np.diff(np.log(adj))
    assert out["volatility"] == pytest.approx(np.std(logret, ddof=1) * math.sqrt(252))
    assert out["bars_per_year"] == 252.0
    assert out["max_drawdown"] == pytest.approx(88.0 / 110.0 - 1.0)  # -0.2
    assert out["peak"] == "2024-07-02T00:00:00Z"
    assert out["trough"] == "2024-07-08T00:00:00Z"
    assert out["recovery"] == "2024-07-09T00:00:00Z"
    assert out["mean_volume"] == pytest.approx(25.0)
    gaps = out["gaps"]
    assert gaps["method"] == "calendar"
    assert gaps["calendar"] == "XNYS"
    assert gaps["sessions"] == 6
    assert (gaps["missing_sessions"], gaps["missing"]) == (1, ["2024-07-05"])
    assert (gaps["non_session_bars"], gaps["non_session"]) == (1, ["2024-07-04"])


def test_unrecovered_drawdown_and_flat_series() -> None:
    stamps = pd.bdate_range("2024-01-02", periods=4)
    out = summarize(_bars(stamps, [10.0, 8.0, 9.0, 9.5]))["T"]
    assert out["max_drawdown"] == pytest.approx(-0.2)
    assert out["recovery"] is None
    flat = summarize(_bars(stamps, [5.0] * 4))["T"]
    assert flat["max_drawdown"] == 0.0
    assert flat["volatility"] == 0.0


def test_intraday_uses_spacing_gaps() -> None:
    stamps = pd.date_range("2024-01-02 14:30", periods=10, freq="min")
    stamps = stamps.delete([4, 5, 6])  # a 4-minute hole after 14:33
    out = summarize(_bars(stamps, np.linspace(10, 11, len(stamps))))["T"]
    gaps = out["gaps"]
    assert gaps["method"] == "spacing"
    assert gaps["median_spacing_seconds"] == 60.0
    assert gaps["count"] == 1
    assert gaps["gaps"] == [
        {"start": "2024-01-02T14:33:00Z", "end": "2024-01-02T14:37:00Z", "seconds": 240.0}
    ]
    assert out["bars_per_year"] == pytest.approx(252 * 390)


def test_seven_day_daily_data_is_not_compared_with_nyse() -> None:
    stamps = pd.date_range("2024-01-01", periods=30, freq="D").delete(10)
    gaps = summarize(_bars(stamps, np.linspace(1, 2, 29)))["T"]["gaps"]
    assert gaps["method"] == "spacing"
    assert gaps["count"] == 1
    assert gaps["gaps"][0]["start"] == "2024-01-10T00:00:00Z"


def test_calendar_none_forces_spacing_and_panel_input() -> None:
    frame = pd.concat(
        [
            _bars(pd.bdate_range("2024-01-02", periods=5), [1, 2, 3, 4, 5], "A"),
            _bars(pd.bdate_range("2024-01-02", periods=5), [5, 4, 3, 2, 1], "B"),
        ],
        ignore_index=True,
    )
    assert summarize(frame, calendar=None)["A"]["gaps"]["method"] == "spacing"
    from_panel = summarize(Panel.from_bars(frame))
    assert set(from_panel) == {"A", "B"}
    assert from_panel["A"]["total_return"] == pytest.approx(4.0)
    assert from_panel["B"]["max_drawdown"] == pytest.approx(-0.8)


def test_spy_sample_is_sane() -> None:
    out = summarize(load_sample("SPY"))["SPY"]
    assert out["rows"] == 8222
    assert out["first"].startswith("1993-01-29")
    gaps = out["gaps"]
    assert gaps["method"] == "calendar"
    assert gaps["missing_sessions"] <= 5
    assert gaps["non_session_bars"] <= 5
    assert 0.12 < out["volatility"] < 0.25
    assert -0.6 < out["max_drawdown"] < -0.45  # 2007-2009
    assert out["trough"].startswith("2009-03")
    assert out["total_return"] > 5
    assert out["mean_volume"] > 1e6


def test_calendar_is_computed_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from tradeopt_ml.data import summary

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    summary._calendar.cache_clear()
    stamps = pd.bdate_range("1931-03-02", periods=60)  # a range no other test builds
    gaps = summarize(_bars(stamps, np.linspace(1, 2, 60)))["T"]["gaps"]
    assert gaps["method"] == "calendar"
    assert gaps["sessions"] > 40
