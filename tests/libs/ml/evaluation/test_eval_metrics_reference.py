"""compute_metrics agrees with quantstats 0.0.86 on real SPY (and QQQ) daily data.

Reference: ``quantstats`` (test-only dependency, ``requirements/dev.txt``). The strategy is
buy-and-hold SPY on ``adj_close`` (8,222 bars), the benchmark buy-and-hold QQQ on the common bars.
Convention differences, metric by metric:

* total_return, cagr, volatility, sharpe, sortino, max_drawdown, calmar, hit_rate (quantstats
  ``win_rate``: positive / non-zero returns), profit_factor, payoff_ratio, skew, kurtosis (both
  pandas' bias-corrected estimators, excess kurtosis), cvar_95 (``method="historical"``), alpha
  and beta (``greeks``): same definitions -> agree to floating-point precision (rel 1e-9; CAGR
  uses ``count / 252`` years in both).
* information_ratio: quantstats does not annualise; ours is annualised -> ours / sqrt(252).
* var_95: quantstats' ``value_at_risk`` is *parametric* (normal); ours is historical, so it is
  compared with pandas' linear-interpolation quantile instead.
* exposure: quantstats rounds the fraction of non-zero-return bars *up* to whole percent.
* max_drawdown_duration: quantstats reports calendar days, ours bars -> checked by hand
  examples in test_eval_metrics.py instead.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.evaluation import compute_metrics

pytestmark = pytest.mark.unit

REL = 1e-9


@pytest.fixture(scope="module")
def data():
    panel = Panel.from_bars(pd.concat([load_sample("SPY"), load_sample("QQQ")]), ["SPY", "QQQ"])
    spy = panel.adj_close[:, 0] / panel.adj_close[0, 0]
    qqq = panel.adj_close[:, 1] / panel.adj_close[0, 1]
    index = pd.DatetimeIndex(panel.timestamps[1:])
    r = pd.Series(spy[1:] / spy[:-1] - 1.0, index=index)
    b = pd.Series(qqq[1:] / qqq[:-1] - 1.0, index=index)
    ours = compute_metrics(spy, bars_per_year=252, benchmark=qqq)
    return ours, r, b


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("total_return", lambda r, b: qs.stats.comp(r)),
        ("cagr", lambda r, b: qs.stats.cagr(r, periods=252)),
        ("volatility", lambda r, b: qs.stats.volatility(r, periods=252)),
        ("sharpe", lambda r, b: qs.stats.sharpe(r, periods=252)),
        ("sortino", lambda r, b: qs.stats.sortino(r, periods=252)),
        ("max_drawdown", lambda r, b: qs.stats.max_drawdown(r)),
        ("calmar", lambda r, b: qs.stats.calmar(r, periods=252)),
        ("hit_rate", lambda r, b: qs.stats.win_rate(r)),
        ("profit_factor", lambda r, b: qs.stats.profit_factor(r)),
        ("payoff_ratio", lambda r, b: qs.stats.payoff_ratio(r)),
        ("skew", lambda r, b: qs.stats.skew(r)),
        ("kurtosis", lambda r, b: qs.stats.kurtosis(r)),
        ("cvar_95", lambda r, b: qs.stats.cvar(r, method="historical")),
        ("beta", lambda r, b: qs.stats.greeks(r, b, periods=252)["beta"]),
        ("alpha", lambda r, b: qs.stats.greeks(r, b, periods=252)["alpha"]),
        ("information_ratio", lambda r, b: qs.stats.information_ratio(r, b) * math.sqrt(252)),
        ("var_95", lambda r, b: r.quantile(0.05)),
    ],
)
def test_metric_matches_quantstats(data, name, reference):
    ours, r, b = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = float(reference(r, b))
    assert ours[name] == pytest.approx(expected, rel=REL, abs=1e-12), name


def test_exposure_matches_quantstats_rounding(data):
    ours, r, _ = data
    assert math.ceil(ours["exposure"] * 100) / 100 == pytest.approx(qs.stats.exposure(r))


def test_spy_sanity(data):
    ours, _, _ = data
    # SPY 1993-2025: a crash of more than 50 % (2008) and a positive long-run Sharpe
    assert -0.6 < ours["max_drawdown"] < -0.5
    assert 0.3 < ours["sharpe"] < 1.0
    assert np.isfinite(ours["alpha"]) and 0.5 < ours["beta"] < 1.2
