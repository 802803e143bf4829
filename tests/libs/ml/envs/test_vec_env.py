"""BatchedTradingVecEnv behaves exactly like DummyVecEnv over single TradingEnvs."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from tradeopt_ml.envs import EnvConfig, TradingEnv, make_vec_env

pytestmark = pytest.mark.unit

N_ENVS = 4
SEED = 123

LEVERED_CLOSE = EnvConfig(
    window=3,
    action_space="continuous",
    max_leverage=2.0,
    fill="close",
    include_unrealised_pnl=True,
    reward="differential_sharpe",
)
CASES = [
    (1, EnvConfig(window=3, random_start=True, episode_length=12)),
    (3, EnvConfig(window=2, random_start=True, episode_length=9, allow_short=False)),
    (1, EnvConfig(window=4, action_space="continuous", random_start=True, episode_length=15)),
    (2, LEVERED_CLOSE),
    # >= 8 assets: sums over assets must accumulate identically in both paths
    (
        10,
        EnvConfig(
            window=2,
            action_space="continuous",
            max_leverage=1.5,
            random_start=True,
            episode_length=10,
        ),
    ),
    # leveraged, volatile, tight bust level: episodes end by termination too
    (2, EnvConfig(window=2, max_leverage=3.0, bust_fraction=0.9, reward="drawdown_penalty")),
]

INFO_KEYS = ("portfolio_value", "cost", "traded_notional", "trade", "bar", "timestamp")


def _compare_infos(ours: dict, ref: dict) -> None:
    for key in INFO_KEYS:
        assert ours[key] == ref[key], key
    np.testing.assert_allclose(ours["position"], ref["position"], rtol=1e-12)
    np.testing.assert_allclose(ours["units"], ref["units"], rtol=1e-12)
    assert ours.get("TimeLimit.truncated") == ref.get("TimeLimit.truncated")
    assert ("terminal_observation" in ours) == ("terminal_observation" in ref)
    if "terminal_observation" in ref:
        np.testing.assert_array_equal(ours["terminal_observation"], ref["terminal_observation"])


@pytest.mark.parametrize(("n_assets", "cfg"), CASES)
def test_matches_dummy_vec_env(random_market, n_assets: int, cfg: EnvConfig) -> None:
    panel, feats = random_market(t=60, n=n_assets, f=2, seed=5)
    if cfg.bust_fraction == 0.9:
        panel.close[:] = 100.0 * np.exp(
            np.cumsum(np.random.default_rng(3).normal(0, 0.08, panel.close.shape), axis=0)
        )
        panel.adj_close[:] = panel.close
    ours = make_vec_env(panel, feats, cfg, n_envs=N_ENVS, seed=SEED)
    ref = DummyVecEnv([lambda: TradingEnv(panel, feats, cfg) for _ in range(N_ENVS)])
    ref.seed(SEED)
    np.testing.assert_array_equal(ours.reset(), ref.reset())
    for a, b in zip(ours.reset_infos, ref.reset_infos, strict=True):
        _compare_infos(a, b)

    space = ours.action_space
    space.seed(0)
    dones = 0
    terminated = 0
    for _ in range(70):
        actions = np.stack([space.sample() for _ in range(N_ENVS)])
        o1, r1, d1, i1 = ours.step(actions)
        o2, r2, d2, i2 = ref.step(actions)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert r1.dtype == r2.dtype
        assert o1.dtype == o2.dtype
        for a, b in zip(i1, i2, strict=True):
            _compare_infos(a, b)
        dones += int(d1.sum())
        terminated += sum(
            bool(d and not i["TimeLimit.truncated"]) for d, i in zip(d1, i1, strict=True)
        )
    assert dones >= N_ENVS  # several episodes with auto-resets were compared
    if cfg.bust_fraction == 0.9:
        assert terminated > 0


def test_vec_env_plumbing(random_market) -> None:
    panel, feats = random_market(t=40, n=1)
    venv = make_vec_env(panel, feats, EnvConfig(window=3), n_envs=3, seed=0)
    venv.reset()
    assert venv.get_attr("config") == [venv.config] * 3
    assert venv.env_is_wrapped(object) == [False, False, False]  # type: ignore[arg-type]
    assert venv.env_method("get_attr", "num_envs", indices=[0]) == [[3, 3, 3]]
    with pytest.raises(ValueError, match="subset"):
        venv.set_attr("foo", 1, indices=[0])
    venv.set_attr("foo", 1)
    assert venv.get_attr("foo", indices=[1, 2]) == [1, 1]
    venv.set_options({"start": 10})
    venv.reset()
    assert [i["bar"] for i in venv.reset_infos] == [10, 10, 10]
    venv.close()
