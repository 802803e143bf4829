"""Defect #23 (fills use adjusted prices while dataset meta and README say raw open/close).

Main-side test: tests/libs/ml/evaluation/test_fill_prices.py::test_qqq_2020_01_06_entry_is_the_adjusted_open_by_default
— copied verbatim to c20e05e it PASSES there too (2 passed): c20e05e already filled at adjusted
prices by default and already had EnvConfig.adjust_prices; the defect was that the data service
and README *said* "open/close (raw)". Main's test does not check the statement, so it would not
have caught the defect. This test (also proposed for main as proposed_main_test_d23.py) checks
that the rule the dataset's meta states is the rule the backtest applies (QQQ 2020-01-06).

On c20e05e: meta.price_for_fills == "open/close (raw)" while the entry is the adjusted open
(~205.3 vs the raw 212.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.support.jobrun import ingest
from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.evaluation.backtest import backtest_targets

pytestmark = pytest.mark.integration


def _default_entry_and_opens() -> tuple[float, float, float]:
    panel = Panel.from_bars(load_sample("QQQ"))
    stamps = pd.DatetimeIndex(panel.timestamps)
    fill_bar = int(np.flatnonzero(stamps.normalize() == pd.Timestamp("2020-01-06"))[0])
    targets = np.zeros((panel.n_bars, 1))
    targets[fill_bar - 1 :] = 1.0
    config = EnvConfig(cost_bps=0.0, slippage_bps=0.0)  # the default rule
    result = backtest_targets(panel, targets, config, start=fill_bar - 1, stop=fill_bar + 5)
    raw_open = float(panel.open[fill_bar, 0])
    factor = float(panel.adj_close[fill_bar, 0] / panel.close[fill_bar, 0])
    return float(result.trades[0]["entry_price"]), raw_open, raw_open * factor


async def test_d23_the_dataset_meta_states_the_fill_rule_the_backtest_applies(client):
    qqq = await ingest(client, {"source": "sample", "symbol": "QQQ"})
    stated = qqq["meta"]["price_for_fills"]
    entry, raw_open, adjusted_open = _default_entry_and_opens()
    assert abs(raw_open - adjusted_open) > 1.0  # the two rules give observably different fills
    if entry == pytest.approx(adjusted_open, rel=1e-12):
        applied = "adjusted"
    else:
        assert entry == pytest.approx(raw_open, rel=1e-12)
        applied = "raw"
    says_adjusted = "adjusted" in stated.split("(")[0] or stated.lower().startswith("adjusted")
    assert ("adjusted" if says_adjusted else "raw") == applied, (
        f"meta.price_for_fills says {stated!r}; the default backtest entered QQQ on 2020-01-06 "
        f"at {entry:.2f} (raw open {raw_open:.2f}, adjusted open {adjusted_open:.2f})"
    )
