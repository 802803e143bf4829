"""Degenerate-policy flags and the cost-sensitivity helper."""

import itertools
import json

import numpy as np
import pytest

from tradeopt_ml.evaluation import (
    DiagnosticThresholds,
    action_distribution,
    cost_sensitivity,
    diagnose_policy,
)

pytestmark = pytest.mark.unit

T = 200


@pytest.fixture
def asset_returns():
    return np.random.default_rng(0).normal(0.0005, 0.01, (T, 1))


def test_buy_and_hold_policy_is_collapsed(asset_returns):
    d = diagnose_policy(np.ones(T), asset_returns=asset_returns)
    assert d.frac_long == 1.0 and d.n_orders == 1
    assert d.bh_correlation == pytest.approx(1.0)
    assert d.flags == ["collapsed_to_buy_and_hold"]


def test_mostly_long_but_timed_policy_is_not_collapsed(asset_returns):
    pos = np.ones(T)
    pos[::2] = 0.2  # long on every bar, but half the bars at a fifth of the size
    d = diagnose_policy(pos, asset_returns=asset_returns)
    assert d.frac_long == 1.0
    assert d.bh_correlation < 0.99
    assert not d.collapsed_to_buy_and_hold
    assert d.overtrades  # changes size on every bar


def test_long_fraction_below_threshold_is_not_collapsed(asset_returns):
    pos = np.ones(T)
    pos[:20] = 0.0  # 90 % long
    assert not diagnose_policy(pos, asset_returns=asset_returns).collapsed_to_buy_and_hold


def test_flat_policy_never_trades_and_is_always_flat(asset_returns):
    d = diagnose_policy(np.zeros((T, 2)), asset_returns=np.hstack([asset_returns] * 2))
    assert d.never_trades and d.always_flat
    assert not d.collapsed_to_buy_and_hold and not d.always_short
    assert d.bh_correlation == 0.0
    assert set(d.flags) == {"never_trades", "always_flat"}


def test_always_short():
    pos = -np.ones(T)
    pos[:5] = 0.0
    d = diagnose_policy(pos)
    assert d.always_short and d.frac_short == pytest.approx(0.975)
    assert not d.never_trades and not d.overtrades


def test_overtrades_threshold():
    alternating = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)
    assert diagnose_policy(alternating).overtrades
    every_fourth = np.repeat(np.array([1.0, -1.0] * (T // 8)), 4)
    d = diagnose_policy(every_fourth)
    assert d.order_fraction == pytest.approx(0.25)
    assert not d.overtrades
    assert diagnose_policy(
        every_fourth, thresholds=DiagnosticThresholds(order_fraction=0.2)
    ).overtrades


def test_healthy_policy_has_no_flags(asset_returns):
    pos = np.repeat(np.array([1.0, 0.0, -1.0, 1.0, 0.0] * 8), 5)
    d = diagnose_policy(pos, asset_returns=asset_returns, actions=(pos + 1).astype(int))
    assert d.flags == [] and not d.degenerate
    assert d.action_distribution == pytest.approx({"0": 0.2, "1": 0.4, "2": 0.4})
    json.dumps(d.to_dict(), allow_nan=False)


def test_action_distribution_continuous():
    dist = action_distribution(np.array([-1.0, -0.95, 0.05, 0.5, 1.0]), bins=4)
    assert list(dist) == ["[-1.00,-0.50)", "[-0.50,0.00)", "[0.00,0.50)", "[0.50,1.00)"]
    assert dist["[-1.00,-0.50)"] == pytest.approx(0.4)
    assert dist["[0.50,1.00)"] == pytest.approx(0.4)  # the last bin includes 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        diagnose_policy(np.ones(10), asset_returns=np.zeros((9, 1)))


def test_cost_sensitivity_orchestrates_run():
    calls = []

    def run(mult):
        calls.append(mult)
        drag = 1.0 - 0.001 * mult
        return np.cumprod(np.full(253, 1.001 * drag))

    rows = cost_sensitivity(run, bars_per_year=252)
    assert calls == [0.0, 1.0, 2.0, 3.0]
    assert [r["cost_multiplier"] for r in rows] == [0.0, 1.0, 2.0, 3.0]
    totals = [r["total_return"] for r in rows]
    assert all(a > b for a, b in itertools.pairwise(totals))
    assert rows[0]["total_return"] == pytest.approx(1.001**252 - 1)


def test_cost_sensitivity_accepts_metric_kwargs():
    def run(mult):
        eq = np.array([100.0, 100.0 - mult, 100.0 - mult])
        return {"equity": eq, "costs": [0.0, mult, 0.0], "positions": [1.0, 1.0, 1.0]}

    rows = cost_sensitivity(run, bars_per_year=2, multipliers=(0, 1), benchmark=np.ones(3))
    assert rows[1]["cost_drag"] == pytest.approx(0.01)
    assert rows[1]["n_orders"] == 1 and "beta" in rows[1]
    with pytest.raises(ValueError, match="equity"):
        cost_sensitivity(lambda m: {"x": 1}, bars_per_year=2)
