"""Benchmark the trading environment against FinRL's ``StockTradingEnv``.

Prints env steps/s (1 and 30 assets), batched throughput (64 copies), PPO ``learn()``
timesteps/s on our batched env vs FinRL's env, and single-env PPO on our env vs a do-nothing
env with the same spaces (the ceiling). Every ratio is measured within this run.

FinRL is loaded by file path from a separate folder made by ``benchmarks/setup_finrl.sh``
(default ``.bench/finrl``); its package ``__init__`` is never imported and its code is never
copied. ``--quick`` runs only our side with tiny sizes (a smoke test, used by the unit tests).

    .venv/bin/python benchmarks/bench_env.py            # ~2-3 minutes
    .venv/bin/python benchmarks/bench_env.py --quick    # seconds, FinRL parts skipped
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from tradeopt_ml.data import Panel
from tradeopt_ml.envs import EnvConfig, TradingEnv, make_vec_env

ROOT = Path(__file__).resolve().parents[1]
FINRL_DIR = ROOT / ".bench" / "finrl"
FINRL_ENV = "finrl/meta/env_stock_trading/env_stocktrading.py"
# FinRL's default indicator set (finrl.config.INDICATORS); values here are synthetic.
REPEATS = 3  # best of N for step timings (the machine may be shared)
PPO_ROUNDS = 5  # interleaved best-of-N rounds for the single-env PPO overhead
INDICATORS = [
    "macd", "boll_ub", "boll_lb", "rsi_30", "cci_30", "dx_30", "close_30_sma", "close_60_sma",
]  # fmt: skip


# --- data ------------------------------------------------------------------------------------
def synthetic_market(n_bars: int, n_assets: int, seed: int = 0) -> tuple[Panel, np.ndarray]:
    """Seeded GBM OHLCV panel plus ``(T, N, 8)`` float32 features (standard normal)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(2e-4, 0.01, (n_bars, n_assets)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.003, close.shape))
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    stamps = pd.bdate_range("2000-01-03", periods=n_bars).to_numpy("datetime64[ns]")
    panel = Panel(
        timestamps=stamps,
        symbols=tuple(f"SYN{i:02d}" for i in range(n_assets)),
        open=open_,
        high=high,
        low=low,
        close=close,
        adj_close=close.copy(),
        volume=rng.uniform(1e5, 1e6, close.shape),
    )
    features = rng.normal(size=(n_bars, n_assets, len(INDICATORS))).astype(np.float32)
    return panel, features


def finrl_frame(panel: Panel, features: np.ndarray) -> pd.DataFrame:
    """The same bars and features in FinRL's long format (index = day number)."""
    t, n = panel.n_bars, panel.n_assets
    frame = pd.DataFrame(
        {
            "date": np.repeat(pd.DatetimeIndex(panel.timestamps).strftime("%Y-%m-%d"), n),
            "open": panel.open.reshape(-1),
            "high": panel.high.reshape(-1),
            "low": panel.low.reshape(-1),
            "close": panel.close.reshape(-1),
            "volume": panel.volume.reshape(-1),
            "tic": np.tile(np.array(panel.symbols), t),
            "day": np.repeat(np.arange(t) % 5, n),
        }
    )
    for k, name in enumerate(INDICATORS):
        frame[name] = features[:, :, k].reshape(-1)
    frame.index = np.repeat(np.arange(t), n)
    return frame


def load_finrl(folder: Path) -> Any:
    """FinRL's env module, loaded by file path (the package ``__init__`` pulls heavy extras)."""
    path = folder / FINRL_ENV
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run benchmarks/setup_finrl.sh first")
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # matplotlib & co. installed next to it
    spec = importlib.util.spec_from_file_location("finrl_env_stocktrading", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_finrl_env(module: Any, panel: Panel, features: np.ndarray) -> gym.Env:
    """FinRL's StockTradingEnv on the same data (10 bps both ways, hmax 100)."""
    n = panel.n_assets
    return module.StockTradingEnv(
        df=finrl_frame(panel, features),
        stock_dim=n,
        hmax=100,
        initial_amount=1_000_000,
        num_stock_shares=[0] * n,
        buy_cost_pct=[1e-3] * n,
        sell_cost_pct=[1e-3] * n,
        reward_scaling=1e-4,
        state_space=1 + 2 * n + len(INDICATORS) * n,
        action_space=n,
        tech_indicator_list=INDICATORS,
        print_verbosity=10**9,
    )


def our_config(**kw: Any) -> EnvConfig:
    """Our env with the same costs as the FinRL setup (10 bps) and a 1-bar window like FinRL."""
    base = {"window": 1, "action_space": "continuous", "cost_bps": 10.0, "slippage_bps": 0.0}
    return EnvConfig(**(base | kw))


class DoNothingEnv(gym.Env):
    """Same spaces and episode length as a given env, no computation: the PPO ceiling."""

    def __init__(self, like: gym.Env, episode_length: int) -> None:
        self.observation_space = like.observation_space
        self.action_space = like.action_space
        self._obs = np.zeros(like.observation_space.shape, dtype=np.float32)
        self._len = episode_length
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs.copy(), {}

    def step(self, action):
        self._t += 1
        return self._obs.copy(), 0.0, False, self._t >= self._len, {}


# --- measurements ----------------------------------------------------------------------------
def steps_per_second(env: gym.Env, actions: np.ndarray) -> float:
    """Plain ``step`` loop over pre-generated actions, resetting at episode ends."""
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def vec_steps_per_second(n_envs: int, n_bars: int, n_iters: int) -> float:
    """Env steps/s of the batched vector env (1 asset, discrete) with random actions."""
    panel, feats = synthetic_market(n_bars, 1, seed=1)
    venv = make_vec_env(panel, feats, EnvConfig(window=10), n_envs=n_envs, seed=0)
    venv.reset()
    actions = np.random.default_rng(0).integers(0, 3, (n_iters, n_envs))
    start = time.perf_counter()
    for a in actions:
        venv.step(a)
    return n_iters * n_envs / (time.perf_counter() - start)


def ppo_rate(venv: Any, timesteps: int, n_steps: int) -> float:
    """PPO ``learn()`` timesteps/s (small MLP, CPU, 1 thread)."""
    from stable_baselines3 import PPO

    model = PPO(
        "MlpPolicy", venv, n_steps=n_steps, batch_size=256, n_epochs=2, seed=0, device="cpu"
    )
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    return timesteps / (time.perf_counter() - start)


def report(name: str, value: float, target: float, unit: str = "x") -> bool:
    """Print one target line and return whether it passed."""
    ok = value >= target
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {value:,.2f}{unit} (target >= {target:,.2f}{unit})")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 (figures are informative, FAIL lines do not abort)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, our env only")
    parser.add_argument("--finrl-dir", type=Path, default=FINRL_DIR)
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    quick = args.quick
    n_bars = 300 if quick else 2000
    finrl = None
    if not quick:
        finrl = load_finrl(args.finrl_dir)
    results: dict[str, float] = {}

    # 1) single-env step throughput, 1 and 30 assets
    for n_assets, n_ours, n_theirs, target in ((1, 20_000, 2_000, 50.0), (30, 5_000, 300, 150.0)):
        if quick:
            n_ours = 500
        panel, feats = synthetic_market(n_bars, n_assets, seed=n_assets)
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, (n_ours, n_assets)).astype(np.float32)
        ours = max(
            steps_per_second(TradingEnv(panel, feats, our_config()), actions)
            for _ in range(REPEATS)
        )
        results[f"ours_{n_assets}"] = ours
        print(f"ours   {n_assets:>2} asset(s): {ours:12,.0f} steps/s ({1e6 / ours:8.1f} us/step)")
        if finrl is None:
            print(f"SKIP  FinRL {n_assets} asset(s) (--quick)")
            continue
        theirs = max(
            steps_per_second(make_finrl_env(finrl, panel, feats), actions[:n_theirs])
            for _ in range(REPEATS)
        )
        print(
            f"FinRL  {n_assets:>2} asset(s): {theirs:12,.0f} steps/s ({1e6 / theirs:8.1f} us/step)"
        )
        report(f"step speed vs FinRL, {n_assets} asset(s)", ours / theirs, target)

    # 2) batched vector env, 64 copies, 1 asset
    vec = max(vec_steps_per_second(64, n_bars, 200 if quick else 3000) for _ in range(REPEATS))
    results["vec_64"] = vec
    report("batched env, 64 copies, 1 asset", vec, 500_000.0, " steps/s")

    # 3) PPO learn(): our batched env (8 copies) vs FinRL's env; single env vs do-nothing
    panel, feats = synthetic_market(n_bars, 1, seed=11)
    cfg = our_config(episode_length=None)
    timesteps = 512 if quick else 16_384
    ours_batched = ppo_rate(
        make_vec_env(panel, feats, cfg, n_envs=8, seed=0), timesteps, 64 if quick else 512
    )
    results["ppo_batched"] = ours_batched
    print(f"PPO ours, batched 8 copies: {ours_batched:10,.0f} timesteps/s")
    if finrl is not None:
        fin_env = make_finrl_env(finrl, panel, feats)
        theirs = ppo_rate(DummyVecEnv([lambda: fin_env]), timesteps // 2, 2048)
        print(f"PPO FinRL, 1 env:           {theirs:10,.0f} timesteps/s")
        report("PPO learn() ours (8 copies) vs FinRL", ours_batched / theirs, 3.0)
    else:
        print("SKIP  PPO on FinRL (--quick)")

    single_steps = 256 if quick else 8192
    env = TradingEnv(panel, feats, cfg)
    episode = env.core.last - env.core.earliest
    n_steps = 128 if quick else 2048
    # a short warm-up learn (torch kernels, allocator), then interleaved rounds in alternating
    # order, best of each: other processes on the machine add noise to both sides
    ppo_rate(DummyVecEnv([lambda: DoNothingEnv(env, episode)]), n_steps, n_steps)
    ours_single = ceiling = 0.0
    for k in range(1 if quick else PPO_ROUNDS):
        dummy = DummyVecEnv([lambda: DoNothingEnv(env, episode)])
        if k % 2:
            ceiling = max(ceiling, ppo_rate(dummy, single_steps, n_steps))
        ours_single = max(ours_single, ppo_rate(DummyVecEnv([lambda: env]), single_steps, n_steps))
        if not k % 2:
            ceiling = max(ceiling, ppo_rate(dummy, single_steps, n_steps))
    results["ppo_single"] = ours_single
    results["ppo_ceiling"] = ceiling
    print(f"PPO ours, 1 env:            {ours_single:10,.0f} timesteps/s")
    print(f"PPO do-nothing env, 1 env:  {ceiling:10,.0f} timesteps/s")
    overhead = 1.0 - ours_single / ceiling
    ok = overhead <= 0.10
    print(f"{'PASS' if ok else 'FAIL'}  single-env PPO overhead vs do-nothing: {overhead:.1%} "
          "(target <= 10%)")  # fmt: skip
    main.results = results  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
