"""Hardening item 23: one rule for fill prices, stated and tested. By default (``adjust_prices``)
fills and marks use total-return adjusted prices (``open``/``close`` times ``adj_close / close``);
``adjust_prices=False`` trades at raw prices. The data service's ``meta.price_for_fills`` says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.evaluation.backtest import backtest_targets

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("adjust", [True, False])
def test_qqq_2020_01_06_entry_is_the_adjusted_open_by_default(adjust: bool) -> None:
    bars = load_sample("QQQ")
    panel = Panel.from_bars(bars)
    stamps = pd.DatetimeIndex(panel.timestamps)
    fill_bar = int(np.flatnonzero(stamps.normalize() == pd.Timestamp("2020-01-06"))[0])
    targets = np.zeros((panel.n_bars, 1))
    targets[fill_bar - 1 :] = 1.0  # decided at the close before, filled at 2020-01-06's open
    config = EnvConfig(cost_bps=0.0, slippage_bps=0.0, adjust_prices=adjust)
    result = backtest_targets(panel, targets, config, start=fill_bar - 1, stop=fill_bar + 5)
    entry = result.trades[0]["entry_price"]
    raw_open = float(panel.open[fill_bar, 0])
    factor = float(panel.adj_close[fill_bar, 0] / panel.close[fill_bar, 0])
    if adjust:
        assert entry == pytest.approx(raw_open * factor, rel=1e-12)
        assert factor < 0.99  # QQQ's adjustment is material here: the rule is observable
    else:
        assert entry == pytest.approx(raw_open, rel=1e-12)


def test_an_evaluation_states_the_prices_its_fills_used() -> None:
    """The rule is stated where results are read: the evaluation's ``bars.prices``, every
    trade's ``prices`` and the report's notes; the stated entry is the adjusted open."""
    from tradeopt_ml.evaluation.run import BaselineSubject, EvaluationRequest, run_evaluation

    bars = load_sample("QQQ")
    request = EvaluationRequest(part=None, random_seeds=1, bootstrap_resamples=10)
    report = run_evaluation(bars, [BaselineSubject("buy_and_hold", "buy_and_hold")], request)
    assert report.values["bars"]["prices"] == "adjusted"
    trades = report.trades["buy_and_hold"]
    assert trades and {t["prices"] for t in trades} == {"adjusted"}
    assert "adjusted prices (open/close x adj_close/close" in report.html
    panel = Panel.from_bars(bars)
    entry = pd.Timestamp(trades[0]["entry_time"]).tz_localize(None)  # the panel is naive UTC
    first = int(np.flatnonzero(pd.DatetimeIndex(panel.timestamps) == entry)[0])
    adjusted_open = panel.open[first, 0] * panel.adj_close[first, 0] / panel.close[first, 0]
    assert trades[0]["entry_price"] == pytest.approx(float(adjusted_open), rel=1e-12)
    assert abs(adjusted_open - panel.open[first, 0]) > 1.0  # raw would be observably different


def test_the_dataset_meta_states_the_rule_the_default_backtest_applies() -> None:
    """What the data service writes into every dataset's meta (``price_for_fills``) names the
    basis :func:`price_basis` gives the default env config, the one fills use."""
    from tradeopt_data.sources import finalize, load_sample_bars
    from tradeopt_ml.evaluation.backtest import price_basis

    meta = finalize(load_sample_bars(["QQQ"])).meta
    assert price_basis(EnvConfig()) == "adjusted"
    assert meta["price_for_fills"].startswith("adjusted open/close")
    assert price_basis(EnvConfig(adjust_prices=False)) == "raw"
