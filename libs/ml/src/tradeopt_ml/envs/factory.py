"""Factories used by training, tuning and evaluation to build envs for a split."""

from __future__ import annotations

import numpy as np

from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.trading import TradingEnv
from tradeopt_ml.envs.vec import BatchedTradingVecEnv


def make_env(
    panel: Panel,
    features: np.ndarray,
    config: EnvConfig | None = None,
    *,
    start: int | None = None,
    stop: int | None = None,
    seed: int | None = None,
) -> TradingEnv:
    """One :class:`TradingEnv` over bars ``[start, stop)``; seeded (reset + action space)."""
    env = TradingEnv(panel, features, config, start=start, stop=stop)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def make_vec_env(
    panel: Panel,
    features: np.ndarray,
    config: EnvConfig | None = None,
    *,
    n_envs: int = 1,
    start: int | None = None,
    stop: int | None = None,
    seed: int | None = None,
) -> BatchedTradingVecEnv:
    """A :class:`BatchedTradingVecEnv` of ``n_envs`` copies; copy ``i`` is seeded ``seed + i``."""
    return BatchedTradingVecEnv(panel, features, config, n_envs, start=start, stop=stop, seed=seed)
