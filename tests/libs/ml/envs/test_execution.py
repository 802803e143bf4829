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


def test_kernel_paths_agree_to_the_bit() -> None:
    """Batched (B, N) rows, one (N,) portfolio and the float fast path give identical bits."""
    rng = np.random.default_rng(4)
    b, n = 5, 12  # >= 8 assets: the accumulation order of the sums matters
    units = rng.normal(0, 50, (b, n))
    cash = rng.normal(1e4, 1e3, b)
    weights = ex.clip_weights(rng.uniform(-1.5, 1.5, (b, n)).astype(np.float32), -1.0, 1.5)
    price = rng.uniform(10, 100, (b, n))
    mark = price * rng.uniform(0.9, 1.1, (b, n))
    mask = rng.random((b, n)) > 0.3
    for m in (None, mask):
        batch = ex.rebalance_step(units, cash, weights, price, mark, 7e-4, m)
        for row in range(b):
            one = ex.rebalance_step(
                units[row], float(cash[row]), weights[row], price[row], mark[row], 7e-4,
                None if m is None else m[row],
            )  # fmt: skip
            for got, want in zip(one, batch, strict=True):
                np.testing.assert_array_equal(got, want[row])
    # one asset: Python floats vs the kernel
    for m in (None, True, False):
        kernel = ex.rebalance_step(
            units[:, :1], cash, weights[:, :1], price[:, :1], mark[:, :1], 7e-4,
            None if m is None else np.full((b, 1), m),
        )  # fmt: skip
        for row in range(b):
            floats = ex.rebalance_one(
                float(units[row, 0]), float(cash[row]), float(weights[row, 0]),
                float(price[row, 0]), float(mark[row, 0]), 7e-4, m,
            )  # fmt: skip
            assert all(isinstance(x, float) for x in floats)
            for got, want in zip(floats, kernel, strict=True):
                assert got == want[row, 0] if np.ndim(want) == 2 else got == want[row]


def test_rebalance_step_by_hand() -> None:
    # 10 units @ 20 + 800 cash = 1000; target 50% of A (@20) and -25% of B (@40)
    units, cash, value, exposure, traded, notional, cost = ex.rebalance_step(
        np.array([10.0, 0.0]), 800.0, np.array([0.5, -0.25]), np.array([20.0, 40.0]),
        np.array([22.0, 38.0]), 1e-3,
    )  # fmt: skip
    np.testing.assert_allclose(units, [25.0, -6.25])
    np.testing.assert_allclose(traded, [15.0, -6.25])
    assert notional == pytest.approx(300.0 + 250.0)
    assert cost == pytest.approx(0.55)
    assert cash == pytest.approx(800.0 - 300.0 + 250.0 - 0.55)
    np.testing.assert_allclose(exposure, [550.0, -237.5])
    assert value == pytest.approx(cash + 550.0 - 237.5)
    # a masked asset keeps its units and pays nothing
    units, cash, *_ = ex.rebalance_step(
        np.array([10.0, 0.0]), 800.0, np.array([0.5, -0.25]), np.array([20.0, 40.0]),
        np.array([22.0, 38.0]), 1e-3, np.array([False, True]),
    )  # fmt: skip
    np.testing.assert_allclose(units, [10.0, -6.25])
    assert cash == pytest.approx(800.0 + 250.0 - 0.25)


def test_clip_weights_clip_and_cap() -> None:
    w = ex.clip_weights(np.array([[2.0, -0.5], [0.2, 0.3], [np.nan, 0.1]]), -1.0, 1.0)
    np.testing.assert_allclose(w[:2], [[1 / 1.5, -0.5 / 1.5], [0.2, 0.3]])
    assert np.isnan(w[2, 0])  # NaN passes through, as np.clip
    np.testing.assert_allclose(ex.clip_weights(np.array([-0.7, 0.4]), 0.0, 1.0), [0.0, 0.4])
    # one asset: clipped, then scaled only by a cap below 1
    assert ex.clip_weight(1.7, -1.0, 2.0) == 1.0
    assert ex.clip_weight(-0.8, -1.0, 0.5) == -0.4
    assert ex.clip_weight(0.3, 0.0, 0.5) == ex.clip_weights(np.array([[0.3]]), 0.0, 0.5)[0, 0]
