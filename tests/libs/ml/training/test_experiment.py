"""The experiment path (bars → features → splits → train-only normalisation → training env →
SB3 → validation): determinism on the real SPY sample and the lineage it records."""

from __future__ import annotations

import numpy as np
import pytest

from tradeopt_ml.agents import load_model
from tradeopt_ml.data import load_sample
from tradeopt_ml.features import Normalizer
from tradeopt_ml.training.experiment import ExperimentSpec, prepare, run_experiment

pytestmark = pytest.mark.unit

SPEC = {
    "algorithm": "ppo",
    "total_timesteps": 512,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "env": {"window": 8, "episode_length": 128},
    "features": {"features": ["log_return", "rsi", "volatility"]},
    "split": {"train_end": "2012-12-31", "validation_end": "2016-12-31"},
    "eval_every": 256,
}


@pytest.fixture(scope="module")
def spy():
    return load_sample("SPY")


def _params(path):
    model = load_model("ppo", path, device="cpu")
    return {k: v.detach().numpy().copy() for k, v in model.policy.state_dict().items()}


def _run(spy, tmp_path, name: str, seed: int):
    spec = ExperimentSpec.model_validate({**SPEC, "seed": seed})
    return run_experiment(spy, spec, tmp_path / name)


def test_same_seed_same_model_and_metrics_different_seed_differs(spy, tmp_path):
    a = _run(spy, tmp_path, "a", 7)
    b = _run(spy, tmp_path, "b", 7)
    c = _run(spy, tmp_path, "c", 8)
    pa, pb, pc = _params(a.model_path), _params(b.model_path), _params(c.model_path)
    assert pa.keys() == pb.keys()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert a.validation == b.validation
    assert [e.to_dict() for e in a.train.eval_history] == [
        e.to_dict() for e in b.train.eval_history
    ]
    assert any(not np.array_equal(pa[k], pc[k]) for k in pa)
    assert a.lineage == b.lineage and a.lineage.seed == 7


def test_normalisation_comes_from_the_train_split_only(spy):
    spec = ExperimentSpec.model_validate(SPEC)
    data = prepare(spy, spec)
    stop = data.splits.train.stop
    expected = Normalizer.fit(data.features, (0, stop)).transform(data.features)
    np.testing.assert_array_equal(data.observations, expected.astype(np.float32))
    changed = spy.copy()
    after = changed["timestamp"] > "2013-01-01"
    changed.loc[after, ["open", "high", "low", "close", "adj_close"]] *= 3.0
    moved = prepare(changed, spec)
    assert moved.normalizer.to_dict() == data.normalizer.to_dict()
    np.testing.assert_array_equal(moved.observations[:stop], data.observations[:stop])


def test_data_too_short_for_the_spec_is_a_clear_error(spy):
    spec = ExperimentSpec.model_validate(
        {
            **SPEC,
            "env": {"window": 40},
            "split": {"train_end": "1993-03-31", "validation_end": "2016-12-31"},
        }
    )
    with pytest.raises(ValueError, match="training split"):
        prepare(spy, spec)
