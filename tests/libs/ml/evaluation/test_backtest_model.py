"""Model backtests: the engine (fast and reference paths) against stepping the env with
``model.predict``, discrete and continuous, one and two assets; no look-ahead; lineage rebuild."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeopt_ml.agents import make_model
from tradeopt_ml.data import load_sample
from tradeopt_ml.envs import make_env
from tradeopt_ml.evaluation import backtest_model, evaluation_config, predict_batch
from tradeopt_ml.evaluation.evaluate import step_with_predict
from tradeopt_ml.training.experiment import ExperimentSpec, lineage_of, prepare

pytestmark = pytest.mark.unit

FEATURES = {"features": ["log_return", "rsi", "volatility"]}
SPLIT = {"train_end": "2012-12-31", "validation_end": "2017-12-31"}

CASES = {
    "ppo-discrete-1": ("ppo", ["SPY"], {"action_space": "discrete"}),
    "ppo-continuous-1": ("ppo", ["SPY"], {"action_space": "continuous"}),
    "sac-continuous-2": ("sac", ["SPY", "TLT"], {"action_space": "continuous"}),
    "ppo-discrete-2-pnl-close": (
        "ppo",
        ["SPY", "TLT"],
        {"action_space": "discrete", "include_unrealised_pnl": True, "fill": "close"},
    ),
    "dqn-discrete-1": ("dqn", ["SPY"], {"action_space": "discrete", "allow_short": False}),
}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return pd.concat([load_sample("SPY"), load_sample("TLT")], ignore_index=True)


@pytest.fixture(scope="module")
def models(bars, tmp_path_factory):
    """Untrained models with random weights (seeded): enough to test that two execution paths
    agree; a trained policy is not needed for that."""
    out = {}
    root = tmp_path_factory.mktemp("models")
    for name, (algo, symbols, env) in CASES.items():
        spec = ExperimentSpec.model_validate(
            {
                "algorithm": algo,
                "symbols": symbols,
                "env": {"window": 8, "bust_fraction": 0.0, **env},
                "features": FEATURES,
                "split": SPLIT,
            }
        )
        data = prepare(bars, spec)
        env_ = make_env(data.panel, data.observations, spec.env, stop=data.splits.train.stop)
        model = make_model(algo, env_, seed=11, device="cpu")
        path = root / f"{name}.zip"
        model.save(path)
        out[name] = (model, path, lineage_of(spec, data), spec, data)
    return out


def _step_env(model, spec, data, part: str):
    """The reference written out: the env over the split part, ``model.predict`` per bar."""
    start, stop = data.segment(part)
    env = make_env(
        data.panel, data.observations, evaluation_config(spec.env), start=start, stop=stop
    )
    return step_with_predict(model, env)


@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_env_stepped_with_predict(name, models, bars):
    model, path, lineage, spec, data = models[name]
    actions, values = _step_env(model, spec, data, "test")
    fast, panel, rng = backtest_model(path, lineage, bars, part="test", fast=True)
    ref, _, _ = backtest_model(path, lineage, bars, part="test", fast=False, model=model)
    assert rng == data.segment("test")
    assert panel.symbols == tuple(spec.symbols)
    for res in (fast, ref):
        assert res.actions.shape == actions.shape
        np.testing.assert_array_equal(res.actions, actions)
        np.testing.assert_allclose(res.equity, values, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(fast.equity, ref.equity)  # identical, not just close
    np.testing.assert_array_equal(fast.positions, ref.positions)
    assert fast.trades == ref.trades
    # a policy that never trades would make this comparison weak
    assert len(np.unique(actions.reshape(len(actions), -1), axis=0)) > 1
    assert len(fast.trades) > 0


def test_full_length_fast_equals_reference_and_cost_override(models, bars):
    model, path, lineage, _, _ = models["ppo-discrete-1"]
    fast, _, rng = backtest_model(path, lineage, bars, part=None, fast=True, model=model)
    ref, _, _ = backtest_model(path, lineage, bars, part=None, fast=False, model=model)
    assert rng == (0, fast.bars[-1] + 1)
    np.testing.assert_array_equal(fast.actions, ref.actions)
    np.testing.assert_array_equal(fast.equity, ref.equity)
    free, _, _ = backtest_model(
        path, lineage, bars, part=None, cost_bps=0.0, slippage_bps=0.0, model=model
    )
    assert free.costs.sum() == 0 and fast.costs.sum() > 0


def test_date_range_selects_bars(models, bars):
    model, path, lineage, _, _ = models["ppo-discrete-1"]
    res, panel, (lo, hi) = backtest_model(
        path, lineage, bars, start="2019-01-01", end="2019-12-31", model=model
    )
    assert str(panel.timestamps[lo])[:10] == "2019-01-02"
    assert str(panel.timestamps[hi - 1])[:10] == "2019-12-31"
    assert (
        res.timestamps[0] == panel.timestamps[lo] and res.timestamps[-1] == panel.timestamps[hi - 1]
    )


def test_predict_batch_rows_equal_per_row_predict(models):
    for name in ("ppo-continuous-1", "sac-continuous-2"):
        model, _, _, _, _data = models[name]
        dim = model.observation_space.shape[0]
        obs = np.random.default_rng(0).standard_normal((300, dim)).astype(np.float32)
        batch = predict_batch(model, obs)
        single = np.stack([model.predict(o, deterministic=True)[0] for o in obs])
        np.testing.assert_array_equal(batch, single)


def test_no_look_ahead(models, bars):
    """Scrambling every bar from a date on leaves the actions decided before it and the equity
    marked before it unchanged (normalisation comes from the lineage, not refitted)."""
    model, path, lineage, _, _ = models["ppo-discrete-1"]
    cut = pd.Timestamp("2020-06-01", tz="UTC")
    ts = pd.to_datetime(bars["timestamp"], utc=True)
    later = (ts >= cut).to_numpy()
    rng = np.random.default_rng(5)
    factor = np.exp(rng.normal(0, 0.05, later.sum()))
    scrambled = bars.copy()
    for col in ("open", "high", "low", "close", "adj_close"):
        scrambled.loc[later, col] = scrambled.loc[later, col].to_numpy() * factor
    a, _, _ = backtest_model(path, lineage, bars, part="test", model=model)
    b, _, _ = backtest_model(path, lineage, scrambled, part="test", model=model)
    before = a.timestamps < np.datetime64(cut.tz_convert(None).to_datetime64())
    n = int(before.sum())
    assert 100 < n < len(a.timestamps) - 100
    np.testing.assert_array_equal(a.equity[:n], b.equity[:n])
    np.testing.assert_array_equal(a.actions[:n], b.actions[:n])  # decided at closes before cut
    assert not np.array_equal(a.equity[n:], b.equity[n:])
