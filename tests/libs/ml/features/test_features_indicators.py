"""Hand-computed values for every indicator on tiny panels."""

import math

import numpy as np
import pytest

from tradeopt_ml.features import FeatureSpec, compute_features

pytestmark = pytest.mark.unit

NAN = float("nan")


def one(panel, name, **params):
    """The single-symbol float64 values of every column of one indicator."""
    fs = compute_features(panel, FeatureSpec(features=[{"name": name, "params": params}]))
    return {c: fs.values[:, 0, j].astype(np.float64) for j, c in enumerate(fs.columns)}


def assert_series(actual, expected, rtol=1e-6):
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=float), rtol=rtol, atol=1e-7)


def test_simple_and_log_returns(make_panel):
    panel = make_panel([100.0, 110.0, 99.0, 108.9])
    assert_series(
        one(panel, "log_return", horizon=1)["log_return_1"],
        [NAN, math.log(1.1), math.log(0.9), math.log(1.1)],
    )
    assert_series(one(panel, "return", horizon=2)["return_2"], [NAN, NAN, -0.01, -0.01])


def test_returns_use_adjusted_close(make_panel):
    panel = make_panel([100.0, 50.0], adj_close=[50.0, 50.0])  # a 2:1 split, no real move
    assert_series(one(panel, "return", horizon=1)["return_1"], [NAN, 0.0])


def test_sma_ratio(make_panel):
    panel = make_panel([1.0, 2.0, 3.0, 4.0, 5.0])
    assert_series(
        one(panel, "sma_ratio", window=3)["sma_ratio_3"],
        [NAN, NAN, 3 / 2 - 1, 4 / 3 - 1, 5 / 4 - 1],
    )


def test_ema_ratio_is_sma_seeded(make_panel):
    # span 3 -> alpha 0.5; seed at row 2 = mean(1, 2, 3) = 2, then 3, then 4
    panel = make_panel([1.0, 2.0, 3.0, 4.0, 5.0])
    assert_series(
        one(panel, "ema_ratio", span=3)["ema_ratio_3"], [NAN, NAN, 3 / 2 - 1, 4 / 3 - 1, 5 / 4 - 1]
    )


def test_rsi_wilder_on_a_known_sequence(make_panel):
    # changes +1 -1 +2 +1 -2; seed (row 3): gain 1, loss 1/3 -> 75;
    # row 4: gain 1, loss 2/9 -> 900/11; row 5: gain 2/3, loss 22/27 -> 45
    panel = make_panel([10.0, 11.0, 10.0, 12.0, 13.0, 11.0])
    assert_series(one(panel, "rsi", window=3)["rsi_3"], [NAN, NAN, NAN, 75.0, 900 / 11, 45.0])


def test_rsi_edge_cases(make_panel):
    flat = make_panel([5.0] * 6)
    rising = make_panel([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert_series(one(flat, "rsi", window=3)["rsi_3"][3:], [50.0] * 3)
    assert_series(one(rising, "rsi", window=3)["rsi_3"][3:], [100.0] * 3)


def test_macd_line_signal_histogram(make_panel):
    p = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # EMA2 (alpha 2/3) seeded 1.5 at row 1 lags a unit trend by 0.5; EMA3 (alpha 1/2) by 1.
    line = [NAN, NAN] + [0.5 / p[i] for i in range(2, 6)]
    signal = [NAN, NAN, NAN, (line[2] + line[3]) / 2]
    for i in (4, 5):
        signal.append(2 / 3 * line[i] + 1 / 3 * signal[-1])
    out = one(make_panel(p), "macd", fast=2, slow=3, signal=2)
    assert_series(out["macd_2_3_2"], line)
    assert_series(out["macd_signal_2_3_2"], signal)
    assert_series(out["macd_hist_2_3_2"], np.array(line) - np.array(signal))


def test_bollinger_percent_b(make_panel):
    out = one(make_panel([1.0, 2.0, 3.0, 3.0, 3.0, 3.0]), "bollinger_pctb", window=3, k=1.0)
    col = out["bb_pctb_3_1"]
    assert_series(col[:3], [NAN, NAN, 0.5 + 1 / (2 * math.sqrt(2 / 3))])
    # window (3, 3, 3) has no width: defined as the middle, 0.5
    assert col[5] == pytest.approx(0.5)


def test_atr_normalised_by_close(make_panel):
    close = [10.0, 11.0, 12.0, 11.0]
    high = [10.5, 11.5, 12.2, 12.0]
    low = [9.5, 10.0, 11.5, 10.5]
    # TR: row1 1.5, row2 1.2, row3 1.5; Wilder(2) seed 1.35 at row 2, then 1.425
    out = one(make_panel(close, high=high, low=low), "atr", window=2)
    assert_series(out["atr_2"], [NAN, NAN, 1.35 / 12, 1.425 / 11])


def test_atr_ignores_a_split_in_raw_prices(make_panel):
    adj = np.array([10.0, 11.0, 12.0, 11.0, 11.5, 12.5])
    high, low = adj + 0.4, adj - 0.6
    plain = one(make_panel(adj, high=high, low=low), "atr", window=2)["atr_2"]
    # raw prices before a 2:1 split at row 3 are twice the adjusted ones
    factor = np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    split = make_panel(adj * factor, high=high * factor, low=low * factor, adj_close=adj)
    assert_series(one(split, "atr", window=2)["atr_2"], plain, rtol=1e-7)


def test_realised_volatility_and_annualisation(make_panel):
    panel = make_panel(np.exp([0.0, 0.1, 0.3, 0.2]))
    expected = [NAN, NAN, np.std([0.1, 0.2], ddof=1), np.std([0.2, -0.1], ddof=1)]
    assert_series(one(panel, "volatility", window=2)["volatility_2"], expected)
    ann = one(panel, "volatility", window=2, annualize=True, bars_per_year=252.0)
    assert_series(ann["volatility_2_ann"], np.array(expected) * math.sqrt(252.0))


def test_volume_zscore(make_panel):
    panel = make_panel([1.0] * 5, volume=[100.0, 200.0, 300.0, 300.0, 300.0])
    z = one(panel, "volume_zscore", window=3)["volume_z_3"]
    assert_series(
        z, [NAN, NAN, 100 / np.std([100, 200, 300]), (300 - 800 / 3) / np.std([200, 300, 300]), 0.0]
    )


def test_drawdown(make_panel):
    out = one(make_panel([10.0, 12.0, 9.0, 11.0, 8.0]), "drawdown", window=3)
    assert_series(out["drawdown_3"], [NAN, NAN, 9 / 12 - 1, 11 / 12 - 1, 8 / 11 - 1])


def test_calendar_from_timestamps(make_panel):
    # 2024-01-01 was a Monday; 2024-06-15 a Saturday in June
    monday = one(make_panel([1.0], start="2024-01-01"), "calendar")
    saturday = one(make_panel([1.0], start="2024-06-15"), "calendar")
    assert [
        monday[c][0] for c in ("dow_sin", "dow_cos", "month_sin", "month_cos")
    ] == pytest.approx([0.0, 1.0, 0.0, 1.0], abs=1e-7)
    assert [
        saturday[c][0] for c in ("dow_sin", "dow_cos", "month_sin", "month_cos")
    ] == pytest.approx(
        [
            math.sin(2 * math.pi * 5 / 7),
            math.cos(2 * math.pi * 5 / 7),
            math.sin(2 * math.pi * 5 / 12),
            math.cos(2 * math.pi * 5 / 12),
        ],
        abs=1e-6,
    )


def test_assets_are_computed_independently(make_panel):
    a = np.array([10.0, 11.0, 10.5, 12.0, 12.5, 11.0, 13.0])
    b = np.array([50.0, 49.0, 51.0, 52.0, 50.0, 53.0, 54.0])
    spec = FeatureSpec.default()
    both = compute_features(make_panel(np.stack([a, b], axis=1)), spec)
    alone = compute_features(make_panel(b), spec)
    np.testing.assert_array_equal(both.values[:, 1, :], alone.values[:, 0, :])


def test_output_shape_dtype_and_warmup(make_panel):
    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(120, 2)), axis=0))
    spec = FeatureSpec.default()
    fs = compute_features(make_panel(prices), spec)
    assert fs.values.shape == (120, 2, len(spec.columns()))
    assert fs.values.dtype == np.float32
    assert fs.warmup == spec.column_warmups()
    assert fs.valid_from == spec.warmup() == fs.warmup_bars
    assert fs.spec_hash == spec.hash()
    # warm-up rows are NaN, never back-filled; every later value is finite
    for j, col in enumerate(fs.columns):
        assert np.isnan(fs.values[: fs.warmup[col], :, j]).all()
        assert np.isfinite(fs.values[fs.warmup[col] :, :, j]).all()


def test_panel_shorter_than_warmup_is_all_nan(make_panel):
    fs = compute_features(make_panel([1.0, 2.0, 3.0]), FeatureSpec(features=["drawdown"]))
    assert np.isnan(fs.values).all()
    assert fs.warmup == {"drawdown_60": 3}
    assert fs.valid_from == 3
