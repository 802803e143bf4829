"""Baseline target positions: shapes, ranges, behaviour and no look-ahead."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.data import FIELDS, Panel, load_sample
from tradeopt_ml.evaluation import (
    BASELINES,
    baseline_positions,
    buy_and_hold,
    flat,
    momentum,
    random,
    sma_crossover,
)

pytestmark = pytest.mark.unit

CASES = {
    "buy_and_hold": {},
    "flat": {},
    "random": {"seed": 3, "hold_bars": 5},
    "sma_crossover": {"fast": 10, "slow": 30, "allow_short": True},
    "momentum": {"lookback": 20, "allow_short": True},
}


@pytest.fixture(scope="module")
def panel():
    bars = pd.concat([load_sample("SPY"), load_sample("TLT")])
    return Panel.from_bars(bars, ["SPY", "TLT"]).slice(0, 600)


def _perturb_after(panel: Panel, t: int, seed: int) -> Panel:
    """Same bars up to t; every later bar's prices and volume scrambled."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for f in FIELDS:
        a = np.array(getattr(panel, f))
        a[t + 1 :] *= rng.uniform(0.5, 1.5, size=a[t + 1 :].shape)
        arrays[f] = a
    return dataclasses.replace(panel, **arrays)


@pytest.mark.parametrize("name", BASELINES)
def test_shape_range_and_dtype(panel, name):
    pos = baseline_positions(name, panel, **CASES[name])
    assert pos.shape == (panel.n_bars, panel.n_assets) and pos.dtype == np.float64
    assert np.all(np.abs(pos) <= 1.0)
    assert np.all(np.abs(pos).sum(axis=1) <= 1.0 + 1e-12)  # gross exposure <= 1


@pytest.mark.parametrize("name", BASELINES)
def test_no_look_ahead(panel, name):
    base = baseline_positions(name, panel, **CASES[name])
    for i, t in enumerate((0, 29, 30, 31, 150, 417, panel.n_bars - 2)):
        moved = baseline_positions(name, _perturb_after(panel, t, seed=i), **CASES[name])
        np.testing.assert_array_equal(moved[: t + 1], base[: t + 1], err_msg=f"{name} t={t}")


def test_perturbation_does_change_later_signals(panel):
    """The no-look-ahead test is not vacuous: the signals do react to the scrambled bars."""
    base = sma_crossover(panel, 10, 30, allow_short=True)
    moved = sma_crossover(_perturb_after(panel, 150, seed=0), 10, 30, allow_short=True)
    assert not np.array_equal(moved[151:], base[151:])


def test_buy_and_hold_and_flat(panel):
    np.testing.assert_array_equal(buy_and_hold(panel), np.full((600, 2), 0.5))
    np.testing.assert_array_equal(flat(panel), np.zeros((600, 2)))
    spy = Panel.from_bars(load_sample("SPY")).slice(0, 50)
    assert (buy_and_hold(spy) == 1.0).all()  # single asset: full weight
    assert (buy_and_hold(panel, gross=0.5) == 0.25).all()


def test_random_is_seeded_and_holds():
    spy = Panel.from_bars(load_sample("SPY")).slice(0, 100)
    a = random(spy, seed=1, hold_bars=10)
    assert np.array_equal(a, random(spy, seed=1, hold_bars=10))
    assert not np.array_equal(a, random(spy, seed=2, hold_bars=10))
    assert set(np.unique(a)) <= {-1.0, 0.0, 1.0}
    blocks = a[:, 0].reshape(10, 10)
    assert (blocks == blocks[:, :1]).all()  # constant within each 10-bar block


def test_sma_crossover_hand_example():
    prices = np.array([10, 10, 10, 11, 12, 13, 12, 10, 9, 8], dtype=float)
    spy = _single(prices)
    pos = sma_crossover(spy, fast=2, slow=4)[:, 0]
    # the slow SMA exists from bar 3 on; before that the position is flat
    fast_ma = np.convolve(prices, np.ones(2) / 2, "valid")[2:]
    slow_ma = np.convolve(prices, np.ones(4) / 4, "valid")
    expected = np.concatenate([np.zeros(3), (fast_ma > slow_ma).astype(float)])
    np.testing.assert_array_equal(pos, expected)
    assert pos[:3].sum() == 0 and pos[3] == 1.0 and pos[-1] == 0.0
    short = sma_crossover(spy, fast=2, slow=4, allow_short=True)[:, 0]
    assert short[-1] == -1.0


def test_momentum_hand_example():
    prices = np.array([10, 11, 12, 11, 10, 12], dtype=float)
    pos = momentum(_single(prices), lookback=2, allow_short=True)[:, 0]
    # bar 2: 12/10 up; bar 3: 11/11 equal -> flat; bar 4: 10/12 down; bar 5: 12/11 up
    np.testing.assert_array_equal(pos, [0, 0, 1, 0, -1, 1])


def test_invalid_parameters():
    spy = _single(np.arange(1.0, 20.0))
    with pytest.raises(ValueError):
        sma_crossover(spy, fast=5, slow=5)
    with pytest.raises(ValueError):
        momentum(spy, lookback=0)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_positions("magic", spy)


def _single(prices: np.ndarray) -> Panel:
    n = prices.shape[0]
    frame = pd.DataFrame(
        {
            "symbol": "X",
            "timestamp": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
            "open": prices,
            "high": prices + 1,
            "low": prices - 1,
            "close": prices,
            "adj_close": prices,
            "volume": 100.0,
        }
    )
    return Panel.from_bars(frame)
