"""Panel: alignment on common timestamps, round trip to bars, slicing, annualisation."""

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import SAMPLE_SYMBOLS, Panel, load_sample

pytestmark = pytest.mark.unit


def _bars(symbol: str, dates: list[str], base: float) -> pd.DataFrame:
    n = len(dates)
    close = base + np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "timestamp": pd.to_datetime(dates, utc=True).as_unit("ns"),
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "adj_close": close,
            "volume": 1000.0,
        }
    )


def test_round_trip_single_symbol_is_identical():
    spy = load_sample("SPY")
    panel = Panel.from_bars(spy)
    assert panel.n_bars == len(spy) and panel.symbols == ("SPY",)
    assert panel.has_adjusted and panel.bars_per_year() == 252.0
    pd.testing.assert_frame_equal(panel.to_bars().reset_index(drop=True), spy)


def test_alignment_keeps_common_dates_and_reports_dropped_rows():
    a = _bars("AAA", ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], 10)
    b = _bars("BBB", ["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], 20)
    panel = Panel.from_bars(pd.concat([b, a]))
    assert panel.symbols == ("AAA", "BBB")
    assert [str(t)[:10] for t in panel.timestamps] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    np.testing.assert_array_equal(panel.close[:, 0], [11, 12, 13])
    np.testing.assert_array_equal(panel.close[:, 1], [20, 21, 22])
    assert panel.dropped == {"AAA": 1, "BBB": 1}
    assert not panel.has_adjusted
    assert panel.close.flags.c_contiguous and panel.close.dtype == np.float64


def test_symbol_selection_slice_and_errors():
    frame = pd.concat([load_sample(s) for s in SAMPLE_SYMBOLS])
    panel = Panel.from_bars(frame, symbols=["SPY", "TLT"])
    assert panel.symbols == ("SPY", "TLT") and panel.n_assets == 2
    part = panel.slice(10, 20)
    assert part.n_bars == 10 and part.timestamps[0] == panel.timestamps[10]
    with pytest.raises(ValueError, match="read-only"):
        part.close[0, 0] = -1.0
    assert not np.shares_memory(part.close, panel.close)
    with pytest.raises(ValueError, match="not in the dataset"):
        Panel.from_bars(frame, symbols=["NOPE"])
    with pytest.raises(ValueError, match="bad slice"):
        panel.slice(5, 5)
    a = _bars("AAA", ["2024-01-02"], 10)
    b = _bars("BBB", ["2024-01-03"], 10)
    with pytest.raises(ValueError, match="share no timestamp"):
        Panel.from_bars(pd.concat([a, b]))


def test_bars_per_year_from_spacing():
    hourly = _bars(
        "AAA", [str(t) for t in pd.date_range("2024-01-02", periods=50, freq="1min")], 10
    )
    assert Panel.from_bars(hourly).bars_per_year() == pytest.approx(252 * 6.5 * 60)
    weekly = _bars(
        "AAA", [str(t) for t in pd.date_range("2024-01-05", periods=10, freq="W-FRI")], 10
    )
    assert Panel.from_bars(weekly).bars_per_year() == 52.0


def test_bars_per_year_of_bars_matches_the_panel_without_building_it():
    """The data service records bars_per_year at ingest without pivoting the dataset into a
    panel (issue 16 item 1: the pivot was the ingest job's largest allocation after parsing)."""
    from tradeopt_ml.data import bars_per_year_of_bars

    daily = pd.concat([load_sample(s) for s in SAMPLE_SYMBOLS], ignore_index=True)
    hourly = _bars("H", [f"2024-01-02 {h:02d}:00" for h in range(9, 16)], 10.0)
    sparse = pd.concat(  # a weekly-sampled symbol aligned with a daily one: weekly common dates
        [load_sample("SPY").iloc[::5], load_sample("QQQ")], ignore_index=True
    ).set_axis(range(100, 100 + len(load_sample("SPY").iloc[::5]) + len(load_sample("QQQ"))))
    for frame in (daily, hourly, sparse, load_sample("GLD").iloc[:1]):
        assert bars_per_year_of_bars(frame) == Panel.from_bars(frame).bars_per_year()
    disjoint = pd.concat(
        [_bars("A", ["2024-01-02", "2024-01-03"], 1.0), _bars("B", ["2024-01-04"], 1.0)]
    )
    with pytest.raises(ValueError, match="share no timestamp"):
        Panel.from_bars(disjoint)
    assert bars_per_year_of_bars(disjoint) == 252.0
