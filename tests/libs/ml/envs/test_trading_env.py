"""TradingEnv: API checks, hand-computed episodes, termination/truncation and no look-ahead."""

from __future__ import annotations

import math
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tradeopt_ml.envs import ENV_ID, EnvConfig, TradingEnv, make_env

pytestmark = pytest.mark.unit

SHORT, FLAT, LONG = 0, 1, 2
RATE = 15e-4  # 10 bps commission + 5 bps slippage


def _zeros(t: int, n: int = 1, f: int = 1) -> np.ndarray:
    return np.zeros((t, n, f), dtype=np.float32)


@pytest.mark.parametrize(
    "cfg",
    [
        EnvConfig(window=4),
        EnvConfig(window=4, allow_short=False),
        EnvConfig(window=3, action_space="continuous", include_unrealised_pnl=True),
        EnvConfig(window=3, action_space="continuous", allow_short=False, fill="close"),
        EnvConfig(window=2, reward="differential_sharpe", random_start=True, episode_length=9),
    ],
)
@pytest.mark.parametrize("n_assets", [1, 3])
def test_env_checkers_pass(random_market, cfg: EnvConfig, n_assets: int) -> None:
    panel, feats = random_market(t=40, n=n_assets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(TradingEnv(panel, feats, cfg), skip_render_check=True)
        sb3_check_env(TradingEnv(panel, feats, cfg), warn=False)


def test_spaces(random_market) -> None:
    panel, feats = random_market(t=30, n=2, f=3)
    env = TradingEnv(panel, feats, EnvConfig(window=5))
    assert env.action_space == gymnasium.spaces.MultiDiscrete([3, 3])
    assert env.observation_space.shape == (5 * 2 * 3 + 2,)
    env1 = TradingEnv(*random_market(t=30, n=1), EnvConfig(window=5, allow_short=False))
    assert env1.action_space == gymnasium.spaces.Discrete(2)
    cont = TradingEnv(panel, feats, EnvConfig(window=5, action_space="continuous"))
    assert cont.action_space.low.tolist() == [-1.0, -1.0]


def test_next_open_long_hold_short_flat_by_hand(make_panel) -> None:
    close = [10.0, 10.0, 12.0, 11.0, 13.0]
    open_ = [10.0, 10.5, 11.0, 12.0, 12.0]
    cfg = EnvConfig(window=1, cost_bps=10, slippage_bps=5, initial_cash=1000, bust_fraction=0.1)
    env = TradingEnv(make_panel(close, open_), _zeros(5), cfg)
    obs, info = env.reset(seed=0)
    assert info["bar"] == 0
    assert info["portfolio_value"] == 1000.0

    # long at bar 0 -> filled at bar 1's open (10.5), marked at bar 1's close (10)
    units = 1000.0 / 10.5
    cash = 1000.0 - 1000.0 - 1000.0 * RATE
    v1 = cash + units * 10.0
    obs, r, term, trunc, info = env.step(LONG)
    assert r == pytest.approx(math.log(v1 / 1000.0))
    assert info["cost"] == pytest.approx(1000.0 * RATE)
    assert info["trade"] is True
    assert info["bar"] == 1
    assert info["units"][0] == pytest.approx(units)
    assert obs[-1] == pytest.approx(units * 10.0 / v1, rel=1e-6)  # position weight
    assert not term
    assert not trunc

    # hold: unchanged action -> no trade, no cost
    v2 = cash + units * 12.0
    _, r, _, _, info = env.step(LONG)
    assert r == pytest.approx(math.log(v2 / v1))
    assert info["cost"] == 0.0
    assert info["trade"] is False

    # short at bar 2 -> filled at bar 3's open (12): flip to -v/12 units
    pre = cash + units * 12.0
    short_units = -pre / 12.0
    traded = short_units - units
    cash = cash - traded * 12.0 - abs(traded) * 12.0 * RATE
    v3 = cash + short_units * 11.0  # the short gains as the price falls 12 -> 11
    _, r, _, trunc, info = env.step(SHORT)
    assert r == pytest.approx(math.log(v3 / v2))
    assert info["cost"] == pytest.approx(abs(traded) * 12.0 * RATE)
    assert v3 > v2
    assert not trunc

    # flat at bar 3 -> bought back at bar 4's open (12); last bar -> truncated
    cash = cash + short_units * 12.0 - abs(short_units) * 12.0 * RATE
    _, r, term, trunc, info = env.step(FLAT)
    assert info["portfolio_value"] == pytest.approx(cash)
    assert r == pytest.approx(math.log(cash / v3))
    assert trunc
    assert not term
    with pytest.raises(RuntimeError, match="reset"):
        env.step(FLAT)


def test_close_fill_uses_this_bars_close(make_panel) -> None:
    close = [10.0, 11.0, 12.0]
    open_ = [10.0, 10.5, 11.5]
    cfg = EnvConfig(window=1, fill="close", cost_bps=10, slippage_bps=5, initial_cash=1000)
    env = TradingEnv(make_panel(close, open_), _zeros(3), cfg)
    env.reset(seed=0)
    _, r, _, _, info = env.step(LONG)
    units = 1000.0 / 10.0  # bar 0's close, not bar 1's open
    v1 = 1000.0 - 1000.0 * RATE - 1000.0 + units * 11.0
    assert info["units"][0] == pytest.approx(units)
    assert r == pytest.approx(math.log(v1 / 1000.0))


def test_two_asset_continuous_rebalancing_with_leverage_cap(make_panel) -> None:
    close = np.array([[10.0, 20.0], [20.0, 20.0], [20.0, 10.0], [20.0, 10.0]])
    cfg = EnvConfig(
        window=1, action_space="continuous", fill="close", cost_bps=10, slippage_bps=0,
        initial_cash=1000, max_leverage=1.0,
    )  # fmt: skip
    env = TradingEnv(make_panel(close), _zeros(4, n=2), cfg)
    env.reset(seed=0)
    # (1, 1) is 2x gross -> capped to (0.5, 0.5): 50 units of A, 25 of B
    _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    np.testing.assert_allclose(info["units"], [50.0, 25.0])
    cost1 = 1000.0 * 1e-3
    v1 = -cost1 + 50 * 20.0 + 25 * 20.0
    assert info["portfolio_value"] == pytest.approx(v1)
    np.testing.assert_allclose(info["position"], [1000.0 / v1, 500.0 / v1])
    # rebalance to (0.5, -0.5) of the value at bar 1's close
    _, r, _, _, info = env.step(np.array([1.0, -1.0], dtype=np.float32))
    ua, ub = 0.5 * v1 / 20.0, -0.5 * v1 / 20.0
    traded = np.array([ua - 50.0, ub - 25.0])
    cost2 = np.abs(traded).sum() * 20.0 * 1e-3
    cash = -cost1 - traded.sum() * 20.0 - cost2
    v2 = cash + ua * 20.0 + ub * 10.0
    np.testing.assert_allclose(info["units"], [ua, ub])
    assert info["cost"] == pytest.approx(cost2)
    assert r == pytest.approx(math.log(v2 / v1))

    # with a 2x cap the same action is not scaled
    env2 = TradingEnv(
        make_panel(close), _zeros(4, n=2), cfg.model_copy(update={"max_leverage": 2.0})
    )
    env2.reset(seed=0)
    _, _, _, _, info = env2.step(np.array([1.0, 1.0], dtype=np.float32))
    np.testing.assert_allclose(info["units"], [100.0, 50.0])


def test_bust_terminates(make_panel) -> None:
    close = [100.0, 100.0, 40.0, 40.0, 40.0]
    cfg = EnvConfig(window=1, cost_bps=0, slippage_bps=0, bust_fraction=0.5)
    env = TradingEnv(make_panel(close), _zeros(5), cfg)
    env.reset(seed=0)
    _, _, term, trunc, _ = env.step(LONG)
    assert not term
    _, r, term, trunc, info = env.step(LONG)
    assert term
    assert not trunc
    assert info["portfolio_value"] == pytest.approx(40_000.0)
    assert r == pytest.approx(math.log(0.4))


def test_truncation_at_episode_length_and_split_stop(random_market) -> None:
    panel, feats = random_market(t=50, warmup=3)
    env = make_env(panel, feats, EnvConfig(window=4, episode_length=5), seed=1)
    _, info = env.reset(seed=1)
    assert info["bar"] == 3 + 4 - 1  # first bar with a full finite window
    for k in range(5):
        _, _, term, trunc, info = env.step(FLAT)
        assert trunc == (k == 4)
        assert not term
    env = make_env(panel, feats, EnvConfig(window=4), start=20, stop=30, seed=1)
    _, info = env.reset()
    assert info["bar"] == 20
    n = 0
    trunc = False
    while not trunc:
        _, _, _, trunc, info = env.step(LONG)
        n += 1
    assert (n, info["bar"]) == (9, 29)


def test_random_start_is_seeded_and_in_range(random_market) -> None:
    panel, feats = random_market(t=200)
    cfg = EnvConfig(window=10, random_start=True, episode_length=20)
    env = TradingEnv(panel, feats, cfg, start=50, stop=150)
    starts = [env.reset(seed=s)[1]["bar"] for s in range(20)]
    again = [env.reset(seed=s)[1]["bar"] for s in range(20)]
    assert starts == again
    assert len(set(starts)) > 5
    assert all(50 <= b <= 149 - 20 for b in starts)
    _, info = env.reset(options={"start": 77})
    assert info["bar"] == 77


def test_bad_inputs_are_rejected(random_market, make_panel) -> None:
    panel, feats = random_market(t=20)
    with pytest.raises(ValueError, match="do not match"):
        TradingEnv(panel, feats[:, :, :][:10])
    holes = feats.copy()
    holes[10, 0, 0] = np.nan
    with pytest.raises(ValueError, match="after the warm-up"):
        TradingEnv(panel, holes)
    with pytest.raises(ValueError, match="no room"):
        TradingEnv(panel, feats, EnvConfig(window=18))
    with pytest.raises(ValueError, match="extra"):
        EnvConfig(windw=3)  # type: ignore[call-arg]


def test_reward_shapes(random_market) -> None:
    panel, feats = random_market(t=60, seed=3)
    actions = np.random.default_rng(0).integers(0, 3, 40)
    out = {}
    for shape in ("log_return", "drawdown_penalty", "differential_sharpe"):
        env = TradingEnv(panel, feats, EnvConfig(window=3, reward=shape, drawdown_penalty=0.5))
        env.reset(seed=0)
        rs, values = [], [1e5]
        for a in actions:
            _, r, *_, info = env.step(int(a))
            rs.append(r)
            values.append(info["portfolio_value"])
        out[shape] = (np.array(rs), np.array(values))
    logret, values = out["log_return"]
    np.testing.assert_allclose(logret, np.diff(np.log(values)))
    dd = 1.0 - values[1:] / np.maximum.accumulate(values)[1:]
    np.testing.assert_allclose(out["drawdown_penalty"][0], logret - 0.5 * dd)
    # Moody-Saffell recursion written out by hand
    a = b = 0.0
    expected = []
    for r in logret:
        var = b - a * a
        expected.append((b * (r - a) - 0.5 * a * (r * r - b)) / var**1.5 if var > 1e-12 else 0.0)
        a, b = a + 0.01 * (r - a), b + 0.01 * (r * r - b)
    np.testing.assert_allclose(out["differential_sharpe"][0], expected, rtol=1e-9)


def test_unrealised_pnl_observation(make_panel) -> None:
    close = [10.0, 10.0, 12.0, 12.0]
    cfg = EnvConfig(
        window=1, action_space="continuous", fill="close", cost_bps=0, slippage_bps=0,
        include_unrealised_pnl=True, initial_cash=1000,
    )  # fmt: skip
    env = TradingEnv(make_panel(close), _zeros(4), cfg)
    env.reset(seed=0)
    env.step(np.array([1.0], dtype=np.float32))
    obs, _, _, _, info = env.step(np.array([0.5], dtype=np.float32))
    # bought 100 @ 10, sold 50 @ 12 -> 50 left with entry 10, marked at 12 -> +100
    assert obs[-1] == pytest.approx(100.0 / info["portfolio_value"])


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("cut", [12, 20, 33])
def test_no_look_ahead(random_market, fill: str, cut: int) -> None:
    """Perturbing every price and feature from bar ``cut`` on changes neither the observations
    at bars < cut nor any reward of a step whose fill and mark happen before ``cut``.
    """
    panel, feats = random_market(t=50, n=2, f=2, seed=7)
    cfg = EnvConfig(window=4, action_space="continuous", fill=fill, bust_fraction=0.0)
    actions = np.random.default_rng(1).uniform(-1, 1, (45, 2)).astype(np.float32)

    def run(p, f):
        env = TradingEnv(p, f, cfg)
        obs, info = env.reset(seed=0)
        bars, observations, rewards = [info["bar"]], [obs], []
        for a in actions:
            obs, r, term, trunc, info = env.step(a)
            bars.append(info["bar"])
            observations.append(obs)
            rewards.append(r)
            if term or trunc:
                break
        return np.array(bars), observations, np.array(rewards)

    bars, obs0, rew0 = run(panel, feats)
    rng = np.random.default_rng(99)
    shock = np.exp(rng.normal(0, 0.05, panel.close[cut:].shape))
    arrays = {f: getattr(panel, f).copy() for f in ("open", "high", "low", "close", "adj_close")}
    for name in arrays:
        arrays[name][cut:] *= shock
    p2 = type(panel)(
        timestamps=panel.timestamps, symbols=panel.symbols, volume=panel.volume, **arrays
    )
    f2 = feats.copy()
    f2[cut:] = rng.normal(size=f2[cut:].shape)
    bars2, obs1, rew1 = run(p2, f2)
    np.testing.assert_array_equal(bars, bars2)
    for k, bar in enumerate(bars[: len(obs1)]):
        if bar < cut:
            np.testing.assert_array_equal(obs0[k], obs1[k])
        else:
            assert not np.array_equal(obs0[k], obs1[k])  # the perturbation is visible later
    # reward k is the step from bar bars[k] to bars[k] + 1: it may use bar bars[k] + 1
    before = bars[1:] < cut
    np.testing.assert_array_equal(rew0[before], rew1[before])
    assert not np.array_equal(rew0[~before], rew1[~before])


def test_registered_with_gymnasium(random_market) -> None:
    panel, feats = random_market(t=30)
    env = gymnasium.make(ENV_ID, panel=panel, features=feats, config=EnvConfig(window=3))
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    env.close()


def test_adjusted_prices_remove_split_jumps(make_panel) -> None:
    panel = make_panel([100.0, 100.0, 50.0, 50.0])  # a 2:1 split between bar 1 and 2
    adj = np.array([[50.0], [50.0], [50.0], [50.0]])
    split = type(panel)(
        timestamps=panel.timestamps, symbols=panel.symbols, open=panel.open, high=panel.high,
        low=panel.low, close=panel.close, adj_close=adj, volume=panel.volume,
    )  # fmt: skip
    cfg = EnvConfig(window=1, fill="close", cost_bps=0, slippage_bps=0)
    env = TradingEnv(split, _zeros(4), cfg)
    env.reset(seed=0)
    env.step(LONG)
    _, r, *_ = env.step(LONG)
    assert r == pytest.approx(0.0)
    raw = TradingEnv(split, _zeros(4), cfg.model_copy(update={"adjust_prices": False}))
    raw.reset(seed=0)
    raw.step(LONG)
    _, r, *_ = raw.step(LONG)
    assert r == pytest.approx(math.log(0.5))


@pytest.mark.parametrize(
    ("n_assets", "cfg"),
    [
        (1, EnvConfig(window=2)),
        (1, EnvConfig(window=2, action_space="continuous")),
        (1, EnvConfig(window=2, action_space="continuous", include_unrealised_pnl=True)),
        (3, EnvConfig(window=2, action_space="continuous")),
    ],
)
def test_returned_arrays_are_never_mutated_later(random_market, n_assets, cfg) -> None:
    """Observations and info arrays handed out stay as they were (SB3 keeps references)."""
    panel, feats = random_market(t=60, n=n_assets, seed=2)
    env = TradingEnv(panel, feats, cfg)
    env.action_space.seed(0)
    kept = []
    obs, info = env.reset(seed=0)
    kept.append((obs, obs.copy(), info["position"], info["position"].copy(), info["units"]))
    for _ in range(40):
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        kept.append((obs, obs.copy(), info["position"], info["position"].copy(), info["units"]))
        if term or trunc:
            env.reset()
    units = [k[4].copy() for k in kept]
    for _ in range(20):
        *_, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    for (obs, obs0, pos, pos0, u), u0 in zip(kept, units, strict=True):
        np.testing.assert_array_equal(obs, obs0)
        np.testing.assert_array_equal(pos, pos0)
        np.testing.assert_array_equal(u, u0)
    assert len({id(k[2]) for k in kept}) == len(kept)  # a fresh array every step


def test_info_deep_copies_like_a_dict(random_market) -> None:
    """SB3's DummyVecEnv deep-copies infos each step: the fast copy must be a real deep copy."""
    import copy

    panel, feats = random_market(t=30, n=2)
    env = TradingEnv(panel, feats, EnvConfig(window=2))
    env.reset(seed=0)
    *_, info = env.step(np.array([2, 0]))
    info["episode"] = {"r": [1.0]}  # keys SB3 adds are deep-copied too
    info["terminal_observation"] = np.ones(3, dtype=np.float32)
    info["alias"] = info["terminal_observation"]
    clone = copy.deepcopy(info)
    assert isinstance(clone, dict)
    assert clone.keys() == info.keys()
    for key, value in info.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(clone[key], value)
            assert clone[key] is not value
        else:
            assert clone[key] == value
    assert clone["episode"] is not info["episode"]
    assert clone["episode"]["r"] is not info["episode"]["r"]
    assert clone["alias"] is clone["terminal_observation"]  # shared references stay shared
    clone["units"][0] = -1.0
    assert info["units"][0] != -1.0
