"""Hand-computed checks of the shared execution model (fills, costs, slippage, positions)."""

from __future__ import annotations

import numpy as np
import pytest

from tradeopt_ml import execution as ex

pytestmark = pytest.mark.unit


def test_buy_pays_cost_and_slippage_on_notional() -> None:
    costs = ex.CostModel(cost_bps=10.0, slippage_bps=5.0)
    fill = ex.execute(
        units=np.zeros((1, 1)),
        cash=np.array([1000.0]),
        target=np.array([[50.0]]),
        price=np.array([[10.0]]),
        costs=costs,
    )
    # notional 500; commission 0.5; slippage 0.25
    assert fill.notional[0, 0] == pytest.approx(500.0)
    assert fill.cost[0, 0] == pytest.approx(0.75)
    assert fill.commission[0, 0] == pytest.approx(0.5)
    assert fill.slippage[0, 0] == pytest.approx(0.25)
    assert fill.cash[0] == pytest.approx(1000.0 - 500.0 - 0.75)
    assert fill.units[0, 0] == 50.0
    assert fill.fill_price[0, 0] == pytest.approx(10.0 * (1 + 5e-4))  # buys pay more
    assert fill.traded_any.tolist() == [True]


def test_sell_receives_less_and_short_sale_credits_cash() -> None:
    costs = ex.CostModel(cost_bps=0.0, slippage_bps=20.0)
    fill = ex.execute(
        units=np.array([[10.0]]),
        cash=np.array([0.0]),
        target=np.array([[-10.0]]),
        price=np.array([[100.0]]),
        costs=costs,
    )
    assert fill.traded[0, 0] == -20.0
    assert fill.fill_price[0, 0] == pytest.approx(100.0 * (1 - 2e-3))  # sells receive less
    # proceeds 2000 at the reference price minus 0.2% slippage
    assert fill.cash[0] == pytest.approx(2000.0 - 4.0)
    # the short gains when the price falls: value at 90 = cash - 10 * 90
    value = ex.portfolio_value(fill.cash, fill.units, np.array([[90.0]]))
    assert value[0] == pytest.approx(1996.0 - 900.0)


def test_trade_mask_leaves_assets_untouched_and_batch_rows_are_independent() -> None:
    costs = ex.CostModel(cost_bps=10.0)
    units = np.array([[1.0, 2.0], [0.0, 0.0]])
    cash = np.array([100.0, 50.0])
    target = np.array([[5.0, 5.0], [1.0, -1.0]])
    mask = np.array([[True, False], [True, True]])
    fill = ex.execute(units, cash, target, np.full((2, 2), 10.0), costs, mask)
    np.testing.assert_allclose(fill.units, [[5.0, 2.0], [1.0, -1.0]])
    np.testing.assert_allclose(fill.cost, [[0.04, 0.0], [0.01, 0.01]])
    np.testing.assert_allclose(fill.cash, [100.0 - 40.0 - 0.04, 50.0 - 0.02])


def test_rebalance_to_weights_uses_pre_trade_value() -> None:
    fill = ex.rebalance(
        units=np.array([[10.0, 0.0]]),
        cash=np.array([0.0]),
        weights=np.array([[0.25, -0.5]]),
        price=np.array([[20.0, 50.0]]),
        costs=ex.CostModel(),
    )
    # value 200 -> 50 of asset 0 (2.5 units), -100 of asset 1 (-2 units)
    np.testing.assert_allclose(fill.units, [[2.5, -2.0]])
    np.testing.assert_allclose(fill.cash, [200.0 - 50.0 + 100.0])


def test_cap_gross_leverage_rescales_only_rows_above_the_cap() -> None:
    w = np.array([[1.0, 1.0], [0.2, -0.3], [-1.0, 0.5]])
    capped = ex.cap_gross_leverage(w, 1.0)
    np.testing.assert_allclose(capped, [[0.5, 0.5], [0.2, -0.3], [-2 / 3, 1 / 3]])


def test_entry_price_average_reduce_and_flip() -> None:
    units = np.array([[10.0, 10.0, 10.0, 0.0]])
    traded = np.array([[10.0, -4.0, -15.0, -3.0]])
    entry = np.array([[100.0, 100.0, 100.0, 0.0]])
    px = np.array([[110.0, 120.0, 90.0, 50.0]])
    new_entry, realised = ex.update_entry_price(units, traded, entry, px)
    np.testing.assert_allclose(new_entry, [[105.0, 100.0, 90.0, 50.0]])
    np.testing.assert_allclose(realised, [[0.0, 80.0, -100.0, 0.0]])
    # a short closed at a lower price realises a gain
    e2, r2 = ex.update_entry_price(
        np.array([[-5.0]]), np.array([[5.0]]), np.array([[100.0]]), np.array([[80.0]])
    )
    assert e2[0, 0] == 0.0
    assert r2[0, 0] == pytest.approx(100.0)
    pnl = ex.unrealised_pnl(np.array([[-5.0]]), np.array([[100.0]]), np.array([[90.0]]))
    assert pnl[0, 0] == pytest.approx(50.0)


def test_bust_and_weights() -> None:
    np.testing.assert_array_equal(
        ex.is_bust(np.array([60.0, 50.0, -1.0]), 100.0, 0.5), [False, True, True]
    )
    w = ex.position_weights(np.array([[2.0, -1.0]]), np.array([[10.0, 20.0]]), np.array([40.0]))
    np.testing.assert_allclose(w, [[0.5, -0.5]])


def test_negative_costs_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        ex.CostModel(cost_bps=-1.0)
