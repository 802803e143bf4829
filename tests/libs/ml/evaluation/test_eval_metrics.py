"""compute_metrics and helpers on tiny hand-computed examples.

Main example: equity [100, 110, 99, 108.9, 108.9] with bars_per_year=4 (4 returns = 1 year).
Returns r = [0.1, -0.1, 0.1, 0.0]: mean 0.025, sample std sqrt(0.0275/3) = 0.0957427,
downside deviation sqrt(0.01/4) = 0.05, drawdown [0, 0, -0.1, -0.01, -0.01].
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.evaluation import (
    CORE_METRICS,
    compute_metrics,
    drawdown_series,
    holding_periods,
    max_drawdown_duration,
    metrics_table,
    monthly_returns,
    rolling_sharpe,
    sharpe_ratio,
    sortino_ratio,
)

pytestmark = pytest.mark.unit

EQ = np.array([100.0, 110.0, 99.0, 108.9, 108.9])
STD = math.sqrt(0.0275 / 3)


@pytest.fixture
def m():
    return compute_metrics(EQ, bars_per_year=4)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("total_return", 0.089),
        ("cagr", 0.089),  # exactly one year
        ("volatility", STD * 2),
        ("sharpe", 0.025 / STD * 2),
        ("sortino", 0.025 / 0.05 * 2),
        ("max_drawdown", -0.1),
        ("max_drawdown_duration", 3),
        ("calmar", 0.89),
        ("hit_rate", 2 / 3),  # the zero-return bar is not counted
        ("profit_factor", 2.0),
        ("payoff_ratio", 1.0),
        ("var_95", -0.085),  # sorted [-0.1, 0, 0.1, 0.1], position 0.15 -> -0.1 + 0.015
        ("cvar_95", -0.1),
        ("exposure", 0.75),  # no positions: fraction of non-zero returns
        ("n_bars", 5),
    ],
)
def test_hand_computed_metric(m, name, expected):
    assert m[name] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_core_metrics_present_and_json_safe(m):
    assert set(CORE_METRICS) <= set(m)
    assert m["n_trades"] is None and m["turnover"] is None  # need positions
    json.dumps(m, allow_nan=False)
    assert isinstance(m["max_drawdown_duration"], int)


def test_skew_kurtosis_are_bias_corrected_sample_estimators():
    rng = np.random.default_rng(3)
    eq = np.cumprod(1 + rng.standard_t(4, 500) * 0.01) * 100
    got = compute_metrics(eq, bars_per_year=252)
    r = pd.Series(eq[1:] / eq[:-1] - 1)
    assert got["skew"] == pytest.approx(r.skew(), rel=1e-9)
    assert got["kurtosis"] == pytest.approx(r.kurt(), rel=1e-9)
    symmetric = compute_metrics(np.array([1.0, 1.1, 1.0, 1.1, 1.0, 1.1, 1.0]), bars_per_year=252)
    # three returns of +0.1 and three of -1/11: a two-point sample with equal weights
    assert symmetric["skew"] == pytest.approx(0.0, abs=1e-12)


def test_positions_metrics():
    pos = np.array([0.0, 1.0, 1.0, 0.0, -1.0])
    got = compute_metrics(EQ, bars_per_year=4, positions=pos)
    assert got["turnover"] == pytest.approx(3 / 5 * 4)  # |Δw| = 0,1,0,1,1
    assert got["exposure"] == pytest.approx(0.6)
    # one meaning per name: orders are position changes, trades closed round trips (none given)
    assert got["n_orders"] == 3 and got["n_trades"] is None
    assert isinstance(got["n_orders"], int)  # a count, like n_trades and n_bars
    units = np.array([0.0, 10.0, 10.0, 0.0, -8.0])  # weights drift, units are what was ordered
    assert compute_metrics(EQ, bars_per_year=4, positions=pos, units=units)["n_orders"] == 3
    assert got["avg_holding_period"] == pytest.approx(1.5)  # runs: long 2 bars, short 1 bar


def test_multi_asset_positions():
    pos = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.0], [0.0, 0.0], [0.0, 0.0]])
    got = compute_metrics(EQ, bars_per_year=4, positions=pos)
    assert got["n_orders"] == 4  # two entries, two exits
    assert got["exposure"] == pytest.approx(0.6)
    assert got["turnover"] == pytest.approx(2.0 / 5 * 4)
    np.testing.assert_array_equal(np.sort(holding_periods(pos)), [2, 3])


def test_trades_override_trade_count_and_add_trade_stats():
    got = compute_metrics(EQ, bars_per_year=4, trades=np.array([0.05, -0.02, 0.03, 0.0]))
    assert got["n_trades"] == 4
    assert got["trade_hit_rate"] == pytest.approx(2 / 3)
    assert got["trade_payoff_ratio"] == pytest.approx(2.0)


def test_benchmark_metrics():
    bench = np.cumprod([100.0, 1.05, 0.95, 1.0, 1.0])  # b = [0.05, -0.05, 0, 0]
    got = compute_metrics(EQ, bars_per_year=4, benchmark=bench)
    # active = [0.05, -0.05, 0.1, 0]: mean 0.025, sample std sqrt(0.0125 / 3)
    assert got["information_ratio"] == pytest.approx(0.025 / math.sqrt(0.0125 / 3) * 2)
    b = np.array([0.05, -0.05, 0.0, 0.0])
    r = np.array([0.1, -0.1, 0.1, 0.0])
    beta = np.cov(r, b)[0, 1] / b.var(ddof=1)
    assert beta == pytest.approx(2.0)  # hand: cov 0.01/3, var 0.005/3
    assert got["beta"] == pytest.approx(2.0)
    assert got["alpha"] == pytest.approx((0.025 - 2.0 * 0.0) * 4)
    assert got["benchmark_total_return"] == pytest.approx(1.05 * 0.95 - 1)


def test_self_benchmark_has_beta_one_and_zero_alpha():
    got = compute_metrics(EQ, bars_per_year=4, benchmark=EQ * 3)
    assert got["beta"] == pytest.approx(1.0)
    assert got["alpha"] == pytest.approx(0.0, abs=1e-12)
    assert got["information_ratio"] == 0.0  # zero tracking error -> 0 by convention


def test_cost_drag():
    got = compute_metrics(np.array([100.0, 99.0, 99.0]), bars_per_year=2, costs=[0.0, 1.0, 0.0])
    assert got["total_return"] == pytest.approx(-0.01)
    assert got["cost_drag"] == pytest.approx(0.01)  # gross curve is flat
    assert got["cost_drag_annual"] == pytest.approx(0.01)
    assert got["total_costs"] == pytest.approx(0.01)


def test_constant_equity_conventions():
    got = compute_metrics(np.full(10, 5.0), bars_per_year=252, positions=np.zeros(10))
    assert got["sharpe"] == 0.0 and got["sortino"] == 0.0 and got["volatility"] == 0.0
    assert got["max_drawdown"] == 0.0 and got["max_drawdown_duration"] == 0
    assert got["calmar"] is None and got["profit_factor"] is None
    assert got["hit_rate"] == 0.0 and got["exposure"] == 0.0 and got["n_orders"] == 0
    json.dumps(got, allow_nan=False)


def test_only_gains_profit_factor_is_none_and_sortino_zero():
    got = compute_metrics(np.array([1.0, 1.1, 1.2]), bars_per_year=252)
    assert got["profit_factor"] is None  # infinite
    assert got["sortino"] == 0.0
    assert got["calmar"] is None


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="at least 2"):
        compute_metrics(np.array([1.0]), bars_per_year=252)
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(np.array([1.0, np.nan]), bars_per_year=252)
    with pytest.raises(ValueError, match="positions"):
        compute_metrics(EQ, bars_per_year=4, positions=np.zeros(3))


def test_drawdown_series_and_open_drawdown_duration():
    eq = np.array([1.0, 2.0, 1.0, 1.5, 2.5, 2.0, 1.0])
    np.testing.assert_allclose(drawdown_series(eq), [0, 0, -0.5, -0.25, 0, -0.2, -0.6])
    assert max_drawdown_duration(eq) == 2  # the open drawdown at the end: 2 bars
    assert max_drawdown_duration(np.array([1.0, 0.9, 0.8, 0.9, 1.0, 0.5])) == 3


def test_ratio_helpers_match_compute_metrics(m):
    r = EQ[1:] / EQ[:-1] - 1
    assert sharpe_ratio(r, 4) == pytest.approx(m["sharpe"])
    assert sortino_ratio(r, 4) == pytest.approx(m["sortino"])


def test_rolling_sharpe_matches_a_loop():
    rng = np.random.default_rng(0)
    eq = np.cumprod(1 + rng.normal(0.001, 0.01, 300))
    got = rolling_sharpe(eq, 20, 252)
    r = eq[1:] / eq[:-1] - 1
    assert np.isnan(got[:20]).all()
    for t in (20, 57, 299):
        window = r[t - 20 : t]
        assert got[t] == pytest.approx(window.mean() / window.std(ddof=1) * math.sqrt(252))


def test_monthly_returns_table():
    ts = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-29", "2024-03-01"])
    eq = np.array([100.0, 110.0, 110.0, 121.0, 108.9])
    table = monthly_returns(eq, ts.to_numpy())
    np.testing.assert_array_equal(table.years, [2024])
    np.testing.assert_allclose(table.table[0, :3], [0.1, 0.1, -0.1])
    assert np.isnan(table.table[0, 3:]).all()
    assert table.yearly[0] == pytest.approx(0.089)
    as_dict = table.to_dict()
    assert as_dict["table"][0][3] is None
    json.dumps(as_dict, allow_nan=False)


def test_monthly_returns_across_years():
    ts = pd.to_datetime(["2023-12-29", "2024-01-02", "2024-01-31"]).to_numpy()
    table = monthly_returns(np.array([100.0, 101.0, 99.0]), ts)
    np.testing.assert_array_equal(table.years, [2023, 2024])
    assert table.table[0, 11] == pytest.approx(0.0)
    assert table.table[1, 0] == pytest.approx(-0.01)


def test_metrics_table_side_by_side():
    names, cols, cells = metrics_table({"a": {"sharpe": 1.0, "x": 2}, "b": {"sharpe": 0.5}})
    assert cols == ["a", "b"]
    assert names[: len(CORE_METRICS)] == list(CORE_METRICS) and names[-1] == "x"
    assert cells[names.index("sharpe")] == [1.0, 0.5]
    assert cells[names.index("x")] == [2, None]
