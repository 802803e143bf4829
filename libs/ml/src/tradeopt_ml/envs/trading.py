"""The single-copy Gymnasium trading environment (``tradeopt/Trading-v0``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.single import SingleCore


class TradingEnv(gym.Env[np.ndarray, Any]):
    """Trade ``N`` assets of a :class:`~tradeopt_ml.data.Panel` on precomputed features.

    Observation: ``Box(float32, (window * N * F + N [+ N],))`` — the feature window ending at
    the current bar's close, flattened oldest first, then the current position weights, then
    (``include_unrealised_pnl``) each asset's unrealised PnL / portfolio value.

    Action: discrete ``Discrete(3)`` / ``MultiDiscrete([3] * N)`` for {short, flat, long}
    (``2`` levels {flat, long} without shorts; long = ``max_leverage / N`` of the portfolio, and
    an unchanged action keeps the position without rebalancing), or continuous
    ``Box(-1, 1, (N,))`` target weights (``[0, 1]`` without shorts) capped at
    ``max_leverage`` gross and rebalanced every bar.

    ``terminated`` when the value falls to ``bust_fraction * initial_cash``; ``truncated`` at
    the end of the bar range or after ``episode_length`` steps. ``info`` carries
    ``portfolio_value, position`` (weights), ``units, cost, traded_notional, trade, bar,
    timestamp``. ``reset(options={"start": bar})`` starts at a given bar.

    Args:
        panel: prices (``open``/``close`` for fills and marks, ``adj_close`` for adjustment).
        features: ``(T, N, F)`` float32 normalised features aligned with ``panel``.
        config: environment configuration (defaults to ``EnvConfig()``).
        start: first bar index episodes may start at (e.g. the start of a split).
        stop: one past the last bar index used (e.g. the end of a split).
    """

    metadata = {"render_modes": []}
    render_mode = None

    def __init__(
        self,
        panel: Panel,
        features: np.ndarray,
        config: EnvConfig | None = None,
        *,
        start: int | None = None,
        stop: int | None = None,
    ) -> None:
        self.config = config if config is not None else EnvConfig()
        self.core = SingleCore(panel, features, self.config, start=start, stop=stop)
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (flat, all cash) at the earliest, a random, or the given bar."""
        super().reset(seed=seed)
        core = self.core
        if options and options.get("start") is not None:
            start = core.check_start(options["start"])
        else:
            start = core.sample_start(self.np_random)
        core.reset(start)
        self._needs_reset = False
        return core.observe(), core.info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Fill the target position, advance one bar, return the net log-return reward."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (the episode is over or not started)")
        core = self.core
        obs, reward, terminated, truncated = core.step(action)
        self._needs_reset = terminated or truncated
        return obs, reward, terminated, truncated, core.info()
