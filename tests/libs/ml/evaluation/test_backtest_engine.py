"""The backtest engine on target weights: buy-and-hold vs the price ratio, cost algebra, a
hand-computed trade-by-trade example, trade-list consistency, series and scoring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.envs import EnvConfig
from tradeopt_ml.evaluation import (
    backtest_targets,
    buy_and_hold,
    evaluate_result,
    random,
    sma_crossover,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def spy() -> Panel:
    return Panel.from_bars(load_sample("SPY"))


@pytest.fixture(scope="module")
def spy_tlt() -> Panel:
    import pandas as pd

    bars = pd.concat([load_sample("SPY"), load_sample("TLT")], ignore_index=True)
    return Panel.from_bars(bars, symbols=["SPY", "TLT"])


def _zero_costs(**kw) -> EnvConfig:
    return EnvConfig(cost_bps=0.0, slippage_bps=0.0, **kw)


# ---------------------------------------------------------------------------------------------
# buy-and-hold on the real sample
# ---------------------------------------------------------------------------------------------
def test_buy_and_hold_zero_costs_is_the_adjusted_price_ratio(spy):
    """With ``adjust_prices=True`` (the default) the env trades and marks at total-return prices
    ``open * adj_close / close`` and ``adj_close``: decided at bar 0's close, bought at bar 1's
    adjusted open, equity_k / cash = adj_close_k / adj_open_1 exactly (float precision).
    """
    res = backtest_targets(spy, buy_and_hold(spy), _zero_costs(), start=0, stop=spy.n_bars)
    assert res.n_steps == spy.n_bars - 1
    adj_open_1 = spy.open[1, 0] * spy.adj_close[1, 0] / spy.close[1, 0]
    ratio = spy.adj_close[1:, 0] / adj_open_1
    np.testing.assert_allclose(res.equity[1:] / res.equity[0], ratio, rtol=1e-13, atol=0)
    assert res.equity[0] == EnvConfig().initial_cash
    assert res.costs.sum() == 0.0
    assert len(res.trades) == 1 and res.trades[0]["exit_time"] is None
    # the ratio over SPY's history is large: this is not a vacuous comparison
    assert res.equity[-1] / res.equity[0] > 10


def test_buy_and_hold_raw_prices_when_not_adjusted(spy):
    cfg = _zero_costs(adjust_prices=False)
    res = backtest_targets(spy, buy_and_hold(spy), cfg, start=100, stop=2000)
    np.testing.assert_allclose(
        res.equity[1:] / res.equity[0], spy.close[101:2000, 0] / spy.open[101, 0], rtol=1e-13
    )
    assert res.timestamps[0] == spy.timestamps[100] and res.timestamps[-1] == spy.timestamps[1999]


@pytest.mark.parametrize("which", ["spy", "spy_tlt"])
def test_buy_and_hold_with_costs_differs_by_exactly_the_costs(which, request):
    """Target units are sized on the pre-trade value, so costs do not change them:
    zero costs:  E0_t = (V - sum u*p) + sum u*c_t
    with costs:  E_t  = (V - sum u*p - C) + sum u*c_t      (C = rate * traded notional)
    hence E_t - E0_t = -cumsum(costs)_t at every bar, and C = (cost_bps + slippage_bps) * V.
    """
    panel = request.getfixturevalue(which)
    tg = buy_and_hold(panel)
    free = backtest_targets(panel, tg, _zero_costs(), start=0, stop=panel.n_bars)
    cfg = EnvConfig(cost_bps=5.0, slippage_bps=2.5)
    paid = backtest_targets(panel, tg, cfg, start=0, stop=panel.n_bars)
    np.testing.assert_array_equal(paid.units, free.units)
    np.testing.assert_allclose(paid.equity - free.equity, -np.cumsum(paid.costs), rtol=0, atol=1e-8)
    assert paid.costs.sum() == pytest.approx(7.5e-4 * cfg.initial_cash, rel=1e-12)
    assert paid.costs[1] > 0 and np.all(paid.costs[2:] == 0)  # one entry fill, then hold


# ---------------------------------------------------------------------------------------------
# a hand-computed example
# ---------------------------------------------------------------------------------------------
def _tiny_panel() -> Panel:
    opens = np.array([10.0, 11.0, 12.5, 11.0, 9.0, 8.5])
    closes = np.array([10.0, 12.0, 12.0, 10.0, 8.0, 9.0])
    ts = np.arange(6).astype("timedelta64[D]") + np.datetime64("2024-01-01", "ns")
    col = lambda a: a[:, None].copy()  # noqa: E731
    return Panel(
        timestamps=ts.astype("datetime64[ns]"),
        symbols=("X",),
        open=col(opens),
        high=col(np.maximum(opens, closes) + 1),
        low=col(np.minimum(opens, closes) - 1),
        close=col(closes),
        adj_close=col(closes),
        volume=col(np.full(6, 1e6)),
    )


def test_hand_computed_long_then_short_then_flat_with_costs():
    """Decisions at closes, fills at the next open, 10 bps commission + 10 bps slippage
    (rate 0.002 of traded notional), 1000 cash, raw prices.

    bar 0 close: target +1 -> bar 1 open 11: buy 1000/11 = 90.9091 u, notional 1000, cost 2,
        cash -2. bar 1 close 12: E = -2 + 90.9091*12 = 1088.9091
    bar 1 close: +1 unchanged -> no trade. bar 2 close 12: E = 1088.9091
    bar 2 close: target -1 -> bar 3 open 11: V0 = -2 + 90.9091*11 = 998, target -998/11 =
        -90.7273 u, sell 181.6364 u, notional 1998, cost 3.996, cash 1992.004.
        bar 3 close 10: E = 1992.004 - 907.2727 = 1084.7313
    bar 3 close: -1 unchanged. bar 4 close 8: E = 1992.004 - 725.8182 = 1266.1858
    bar 4 close: target 0 -> bar 5 open 8.5: buy back 90.7273 u, notional 771.1818,
        cost 1.5424, cash 1219.2798. bar 5 close 9: E = 1219.2798 (flat)
    Trades: long 90.9091 u 11 -> 11, costs 2 + 3.996/2 (the flip is split pro rata by units:
        90.9091 of 181.6364, i.e. 1000/1998 of it = 2.0) = 4.0, pnl -4.0; short 90.7273 u
        11 -> 8.5, costs 1.996 (rest of the flip's cost) + 1.5424 = 3.5384, pnl
        90.7273 * 2.5 - 3.5384 = 223.2798 (= 1219.2798 - 1000 - (-4.0)).
    """
    panel = _tiny_panel()
    cfg = EnvConfig(
        cost_bps=10.0, slippage_bps=10.0, initial_cash=1000.0, adjust_prices=False,
        bust_fraction=0.0,
    )  # fmt: skip
    targets = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 0.0])
    res = backtest_targets(panel, targets, cfg, start=0, stop=6)

    u_long = 1000 / 11
    u_short = 998 / 11
    flip_cost = 0.002 * (u_long + u_short) * 11
    cash_short = -2 + (u_long + u_short) * 11 - flip_cost
    exit_cost = 0.002 * u_short * 8.5
    expected_equity = [
        1000.0,
        -2 + u_long * 12,
        -2 + u_long * 12,
        cash_short - u_short * 10,
        cash_short - u_short * 8,
        cash_short - u_short * 8.5 - exit_cost,
    ]
    np.testing.assert_allclose(res.equity, expected_equity, rtol=1e-13)
    assert expected_equity[3] == pytest.approx(1084.731273, abs=1e-6)
    assert expected_equity[5] == pytest.approx(1219.279818, abs=1e-6)
    np.testing.assert_allclose(res.costs, [0, 2.0, 0, flip_cost, 0, exit_cost], rtol=1e-13)
    np.testing.assert_allclose(res.units[:, 0], [0, u_long, u_long, -u_short, -u_short, 0])
    assert res.positions[1, 0] == pytest.approx(u_long * 12 / expected_equity[1], rel=1e-13)
    assert res.positions[3, 0] < 0 and res.positions[5, 0] == 0

    long_, short = res.trades
    day = lambda i: panel.timestamps[i]  # noqa: E731
    assert long_["side"] == "long" and short["side"] == "short"
    assert (long_["entry_time"], long_["exit_time"]) == (day(1), day(3))
    assert (short["entry_time"], short["exit_time"]) == (day(3), day(5))
    assert long_["entry_price"] == pytest.approx(11.0) and long_["exit_price"] == pytest.approx(11)
    assert short["entry_price"] == pytest.approx(11.0) and short["exit_price"] == 8.5
    assert long_["size"] == pytest.approx(u_long) and short["size"] == pytest.approx(u_short)
    assert long_["costs"] == pytest.approx(2.0 + flip_cost * u_long / (u_long + u_short))
    assert long_["costs"] == pytest.approx(4.0, abs=1e-6)
    assert long_["pnl"] == pytest.approx(-long_["costs"], abs=1e-9)
    assert short["pnl"] == pytest.approx(u_short * 2.5 - short["costs"], rel=1e-12)
    assert short["pnl"] == pytest.approx(223.279818, abs=1e-5)
    assert long_["bars_held"] == 2 and short["bars_held"] == 2
    assert long_["pnl"] + short["pnl"] == pytest.approx(res.equity[-1] - 1000.0, rel=1e-12)


def test_fill_at_close_uses_the_decision_bar_close():
    panel = _tiny_panel()
    cfg = EnvConfig(
        cost_bps=0.0, slippage_bps=0.0, initial_cash=1000.0, adjust_prices=False, fill="close"
    )
    res = backtest_targets(panel, np.ones(6), cfg, start=0, stop=6)
    np.testing.assert_allclose(res.equity, 1000.0 * panel.close[:, 0] / 10.0, rtol=1e-13)
    assert res.trades[0]["entry_time"] == panel.timestamps[0]


def test_short_targets_are_clipped_without_shorts_and_the_cap_applies(spy):
    tg = np.full(spy.n_bars, -1.0)
    res = backtest_targets(spy, tg, EnvConfig(allow_short=False), start=0, stop=500)
    assert np.all(res.units == 0) and res.trades == []
    half = backtest_targets(spy, np.ones(spy.n_bars), EnvConfig(max_leverage=0.5), start=0, stop=50)
    assert half.positions[1, 0] == pytest.approx(0.5, rel=1e-2)


# ---------------------------------------------------------------------------------------------
# trade list consistency
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("which", "rebalance"),
    [("spy", "on_change"), ("spy_tlt", "on_change"), ("spy_tlt", "every_bar")],
)
def test_trades_pnl_and_costs_add_up(which, rebalance, request):
    panel = request.getfixturevalue(which)
    tg = (
        sma_crossover(panel, allow_short=True)
        if which == "spy"
        else random(panel, seed=3, hold_bars=15)
    )
    res = backtest_targets(
        panel, tg, EnvConfig(bust_fraction=0.0), start=60, stop=panel.n_bars, rebalance=rebalance
    )
    trades = res.trades
    assert len(trades) > 20
    total_pnl = sum(t["pnl"] for t in trades)  # closed trades + the open one(s) marked at the end
    assert total_pnl == pytest.approx(res.equity[-1] - res.equity[0], rel=1e-9)
    assert sum(t["costs"] for t in trades) == pytest.approx(res.costs.sum(), rel=1e-9)
    assert res.costs.sum() > 0
    for t in trades:
        assert t["side"] in ("long", "short") and t["size"] > 0 and t["bars_held"] >= 1
        if t["exit_time"] is not None:
            assert t["exit_time"] > t["entry_time"]
    n_open = sum(t["exit_time"] is None for t in trades)
    assert n_open == int(np.count_nonzero(res.units[-1]))


def test_to_series_and_evaluate_result(spy):
    cfg = EnvConfig()
    strat = backtest_targets(spy, sma_crossover(spy), cfg, start=6000, stop=spy.n_bars)
    bench = backtest_targets(spy, buy_and_hold(spy), cfg, start=6000, stop=spy.n_bars)
    series = strat.to_series()
    assert len(series) == strat.equity.shape[0]
    assert series[0]["t"].endswith("Z") and isinstance(series[0]["position"], float)
    assert series[-1]["equity"] == strat.equity[-1]
    out = evaluate_result(strat, bars_per_year=252.0, benchmark=bench, n_trials=20,
                          trials_sharpe_variance=0.25)  # fmt: skip
    m = out["metrics"]
    assert m["total_return"] == pytest.approx(strat.equity[-1] / strat.equity[0] - 1)
    assert m["benchmark_total_return"] == pytest.approx(bench.equity[-1] / bench.equity[0] - 1)
    assert m["n_trades"] == sum(t["exit_time"] is not None for t in strat.trades)
    assert out["sharpe_ci"][0] < m["sharpe"] < out["sharpe_ci"][1]
    assert out["sharpe_ci_level"] == 0.95
    assert 0 <= out["probabilistic_sharpe"] <= 1 and 0 <= out["deflated_sharpe"] <= 1
    assert out["deflated_sharpe"] < out["probabilistic_sharpe"]
    assert "flags" in out["diagnostics"]
    no_dsr = evaluate_result(strat, bars_per_year=252.0, benchmark=None)
    assert no_dsr["deflated_sharpe"] is None and "beta" not in no_dsr["metrics"]
    # one meaning per count: orders on units, in metrics and diagnostics alike
    assert (
        out["diagnostics"]["n_orders"]
        == m["n_orders"]
        == int((np.abs(np.diff(strat.units, axis=0, prepend=0.0)) > 1e-12).sum())
    )
    assert isinstance(m["n_orders"], int)
    # a benchmark that went bust first (its backtest ended early) stays at its last equity
    # instead of failing the evaluation
    cut = dataclasses.replace(bench, equity=bench.equity[:100], timestamps=bench.timestamps[:100])
    busted = evaluate_result(strat, bars_per_year=252.0, benchmark=cut)["metrics"]
    assert busted["benchmark_total_return"] == pytest.approx(cut.equity[-1] / cut.equity[0] - 1)
