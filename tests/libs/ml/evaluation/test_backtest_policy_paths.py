"""The fast policy backtest's internal paths, each against the env stepped with
``model.predict``: the split first layer, the observation-free one-asset recorder, the
fixed-point correction from a bad first guess, and the per-bar fallback after ``max_passes``."""

from __future__ import annotations

import numpy as np
import pytest

import tradeopt_ml.evaluation.policy as policy_mod
from tradeopt_ml.agents import make_model
from tradeopt_ml.data import load_sample
from tradeopt_ml.envs import make_env
from tradeopt_ml.envs.single import SingleCore
from tradeopt_ml.evaluation import evaluation_config
from tradeopt_ml.evaluation.backtest import Recorder
from tradeopt_ml.evaluation.evaluate import reference_backtest
from tradeopt_ml.evaluation.policy import _discrete_scores, _FirstLayerSplit, fast_policy_backtest
from tradeopt_ml.training.experiment import ExperimentSpec, prepare

pytestmark = pytest.mark.unit

SPLIT = {"train_end": "2012-12-31", "validation_end": "2017-12-31"}


def _setup(algo: str, env: dict, symbols: list[str] | None = None):
    import pandas as pd

    symbols = symbols or ["SPY"]
    bars = pd.concat([load_sample(s) for s in symbols], ignore_index=True)
    spec = ExperimentSpec.model_validate(
        {
            "algorithm": algo,
            "symbols": symbols,
            "env": {"window": 8, "bust_fraction": 0.0, **env},
            "features": {"features": ["log_return", "rsi", "volatility"]},
            "split": SPLIT,
        }
    )
    data = prepare(bars, spec)
    env_ = make_env(data.panel, data.observations, spec.env, stop=data.splits.train.stop)
    model = make_model(algo, env_, seed=3, device="cpu")
    config = evaluation_config(spec.env)
    start, stop = data.segment("test")

    def core() -> SingleCore:
        return SingleCore(data.panel, data.observations, config, start=start, stop=stop)

    return model, core


@pytest.fixture(scope="module")
def ppo_discrete():
    return _setup("ppo", {"action_space": "discrete"})


@pytest.fixture(scope="module")
def ppo_discrete_pnl():
    return _setup("ppo", {"action_space": "discrete", "include_unrealised_pnl": True}, ["SPY"])


def _assert_same(fast, ref) -> None:
    assert fast.actions.shape == ref.actions.shape
    np.testing.assert_array_equal(fast.actions, ref.actions)
    np.testing.assert_array_equal(fast.equity, ref.equity)
    np.testing.assert_array_equal(fast.positions, ref.positions)
    np.testing.assert_array_equal(fast.costs, ref.costs)
    assert fast.trades == ref.trades
    assert len(np.unique(ref.actions)) > 1  # the policy trades: not a vacuous comparison


def test_split_scores_match_one_row_forwards(ppo_discrete, monkeypatch):
    model, make_core = ppo_discrete
    core = make_core()
    k_max = core.last - core.earliest
    base = policy_mod._base_observations(core, k_max)
    split = _FirstLayerSplit.build(model, base, core._feat_dim)
    assert split is not None and not split.q_values
    rows = np.arange(0, k_max, 97)
    tails = np.linspace(-1.0, 1.0, rows.size, dtype=np.float32)[:, None]
    mine = split.scores(rows, tails)[0]
    for j, i in enumerate(rows):
        obs = base[i : i + 1].copy()
        obs[0, core._feat_dim :] = tails[j]
        one = _discrete_scores(model, obs)[0][0]
        np.testing.assert_allclose(mine[j], one[0], rtol=0, atol=1e-6)
        action, _ = model.predict(obs[0], deterministic=True)
        top2 = np.sort(mine[j])[-2:]
        assert int(np.argmax(mine[j])) == int(action) or top2[1] - top2[0] < 1e-4
    assert split.agrees(model, base)
    assert split.scores(slice(5, 5), np.zeros((0, 1)))[0].shape == (0, 3)
    # forwards in chunks of rows give the scores and guesses of one whole batch
    tail = np.linspace(-1, 1, k_max, dtype=np.float32)[:, None]
    whole = split.scores(slice(0, k_max), tail)[0]
    guess = split.guess(np.array([[0.0], [1.0]]))
    monkeypatch.setattr(policy_mod, "_CHUNK", 64)
    np.testing.assert_allclose(split.scores(slice(0, k_max), tail)[0], whole, atol=1e-6)
    assert guess.shape == (2, k_max)
    # (a guess: float32 rounding of another batch size may flip an exact near-tie)
    assert (split.guess(np.array([[0.0], [1.0]])) == guess).mean() > 0.999


def test_split_is_not_built_for_continuous_policies():
    model, make_core = _setup("ppo", {"action_space": "continuous"})
    core = make_core()
    base = policy_mod._base_observations(core, core.last - core.earliest)
    assert _FirstLayerSplit.build(model, base, core._feat_dim) is None


def test_run_levels_records_what_step_records(ppo_discrete):
    """The observation-free recorder changes the core's state exactly as ``Recorder.step``,
    including after a rewind to a snapshot in the middle of the run."""
    _, make_core = ppo_discrete
    a, b = Recorder(make_core()), Recorder(make_core())
    n = a.n_max
    actions = np.random.default_rng(1).integers(0, 3, n).tolist()
    for k in range(n):
        a.step(actions[k])
    b.run_levels(actions, n)
    assert a.k == b.k == n and b.done
    for name in ("values", "weights", "units", "costs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.core.prev_action == b.core.prev_action
    before = b.values.copy()
    # change the actions from decision 300 on, resume from the snapshot at 256
    actions[300:] = [(x + 1) % 3 for x in actions[300:]]
    a.rewind(300)
    b.rewind(300)
    assert a.k == b.k == 256
    for k in range(a.k, n):
        a.step(actions[k])
    b.run_levels(actions, n)
    for name in ("values", "weights", "units", "costs"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(b.values[:301], before[:301])
    assert not np.array_equal(b.values[302:], before[302:])


def test_fast_path_uses_split_and_matches_reference(ppo_discrete, monkeypatch):
    model, make_core = ppo_discrete
    built = []
    original = _FirstLayerSplit.build.__func__

    def spy(cls, *args):
        built.append(original(cls, *args))
        return built[-1]

    monkeypatch.setattr(_FirstLayerSplit, "build", classmethod(spy))
    fast, stats = fast_policy_backtest(model, make_core())
    assert built and built[0] is not None
    ref = reference_backtest(model, make_core())
    _assert_same(fast, ref)
    assert stats["sequential_steps"] == 0


@pytest.mark.parametrize("which", ["ppo_discrete", "ppo_discrete_pnl"])
def test_without_split_plain_batched_path_matches_reference(which, request, monkeypatch):
    model, make_core = request.getfixturevalue(which)
    monkeypatch.setattr(_FirstLayerSplit, "build", classmethod(lambda cls, *a: None))
    fast, stats = fast_policy_backtest(model, make_core())
    _assert_same(fast, reference_backtest(model, make_core()))
    assert stats["sequential_steps"] == 0


@pytest.fixture
def flat_first_guess(monkeypatch):
    """The scan starts from an all-flat first guess (wrong wherever the policy trades)."""
    monkeypatch.setattr(
        policy_mod,
        "_first_guess",
        lambda model, core, base, split=None: np.full(base.shape[0], core._flat, dtype=np.int64),
    )


@pytest.mark.parametrize("which", ["ppo_discrete", "ppo_discrete_pnl"])
def test_bad_first_guess_is_corrected_by_the_fixed_point(which, request, flat_first_guess):
    """An all-flat first guess is wrong wherever the policy trades: the scan corrects it over
    several passes and still ends on the reference trajectory."""
    model, make_core = request.getfixturevalue(which)
    fast, stats = fast_policy_backtest(model, make_core(), max_passes=10_000)
    _assert_same(fast, reference_backtest(model, make_core()))
    assert stats["passes"] > 1 and stats["sequential_steps"] == 0


@pytest.mark.parametrize("which", ["ppo_discrete", "ppo_discrete_pnl"])
def test_max_passes_falls_back_to_per_bar_predict(which, request, flat_first_guess):
    model, make_core = request.getfixturevalue(which)
    fast, stats = fast_policy_backtest(model, make_core(), max_passes=2)
    _assert_same(fast, reference_backtest(model, make_core()))
    assert stats["passes"] == 2 and stats["sequential_steps"] > 0


def test_one_row_action_equals_model_predict_on_near_ties(ppo_discrete):
    """The near-tie decider (:func:`_one_row_action`, SB3's ops without its per-call
    overhead) gives ``model.predict``'s action bit for bit, on the rows the margin rule hands
    it (near ties of an untrained policy) and on a spread of other rows and held weights."""
    model, make_core = ppo_discrete
    core = make_core()
    k_max = core.last - core.earliest
    obs = policy_mod._base_observations(core, k_max).copy()
    rng = np.random.default_rng(5)
    obs[:, core._feat_dim :] = rng.choice([-1.0, 0.0, 1.0], size=(k_max, 1)).astype(np.float32)
    heads, _ = _discrete_scores(model, obs)
    _, safe = policy_mod._argmax_with_margin(heads[0], False)
    rows = np.union1d(np.flatnonzero(~safe), np.arange(0, k_max, 7))
    assert (~safe).sum() > 0  # near ties are exercised
    # the actor's layers are called as functions (not modules) on this plain MLP policy
    assert policy_mod._unrolled(model.policy.mlp_extractor, model.policy.action_net) is not None
    one_row = policy_mod._one_row_action(model)
    fast = np.stack([one_row(obs[i]) for i in rows])
    ref = np.stack(
        [np.asarray(model.predict(obs[i], deterministic=True)[0]).reshape(-1) for i in rows]
    )
    np.testing.assert_array_equal(fast, ref)
    assert len(np.unique(ref)) > 1


def test_unrolled_actor_equals_the_modules_and_steps_aside_for_hooks(ppo_discrete):
    """The unrolled actor (``F.linear``/``torch.tanh`` on the layers' own tensors) gives the
    modules' logits bit for bit; a module with a forward hook is left to the modules."""
    import torch

    model, _ = ppo_discrete
    policy = model.policy
    layers = policy_mod._unrolled(policy.mlp_extractor, policy.action_net)
    assert layers is not None
    rows = torch.as_tensor(
        np.random.default_rng(3).standard_normal((200, *policy.observation_space.shape)),
        dtype=torch.float32,
    )
    with torch.no_grad():
        for i in range(rows.shape[0]):
            row = rows[i : i + 1]
            expected = policy.action_net(policy.mlp_extractor.forward_actor(row))
            got = row
            for layer in layers:
                got = layer(got)
            assert torch.equal(got, expected)
    handle = policy.action_net.register_forward_hook(lambda *_: None)
    try:
        assert policy_mod._unrolled(policy.mlp_extractor, policy.action_net) is None
    finally:
        handle.remove()
