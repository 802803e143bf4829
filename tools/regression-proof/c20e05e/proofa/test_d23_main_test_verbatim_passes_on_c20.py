"""Evidence for RESULTS.md #23: main's tests/libs/ml/evaluation/test_fill_prices.py copied VERBATIM.
It PASSES on c20e05e (2 passed): the main-side test does not catch defect #23 (see
test_d23_fill_price_rule_stated.py / proposed_main_test_d23.py).
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
