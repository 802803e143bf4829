"""A Stable-Baselines3 ``VecEnv`` that steps ``n_envs`` trading copies as one batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from tradeopt_ml.data import Panel
from tradeopt_ml.envs.config import EnvConfig
from tradeopt_ml.envs.core import TradingCore


class BatchedTradingVecEnv(VecEnv):
    """``n_envs`` independent :class:`~tradeopt_ml.envs.TradingEnv` copies stepped with array
    operations over the copy axis (no Python loop over copies in ``step``).

    It behaves exactly like ``DummyVecEnv([TradingEnv(...)] * n_envs)`` with the same seeds:
    SB3 auto-reset (the last observation of a finished episode is in
    ``infos[i]["terminal_observation"]``, ``infos[i]["TimeLimit.truncated"]`` says whether it was
    cut by time), per-copy generators seeded ``seed + i`` by :meth:`seed`, and ``reset()``
    returns observations only (reset infos in ``self.reset_infos``).

    Args:
        panel: prices, as for :class:`~tradeopt_ml.envs.TradingEnv`.
        features: ``(T, N, F)`` features aligned with ``panel``.
        config: environment configuration (defaults to ``EnvConfig()``).
        n_envs: number of copies.
        start: first bar index episodes may start at.
        stop: one past the last bar index used.
        seed: when given, ``seed(seed)`` is called so the first ``reset()`` is reproducible.
    """

    def __init__(
        self,
        panel: Panel,
        features: np.ndarray,
        config: EnvConfig | None = None,
        n_envs: int = 1,
        *,
        start: int | None = None,
        stop: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config if config is not None else EnvConfig()
        self.core = TradingCore(panel, features, self.config, n_envs, start=start, stop=stop)
        self.render_mode = None
        super().__init__(n_envs, self.core.observation_space, self.core.action_space)
        self._rngs: list[np.random.Generator | None] = [None] * n_envs
        self._actions: np.ndarray | None = None
        self._all = np.arange(n_envs)
        if seed is not None:
            self.seed(seed)

    # --- episode starts ----------------------------------------------------------------------
    def _rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:
            rng, _ = seeding.np_random(None)
            self._rngs[i] = rng
        return rng

    def _start(self, i: int, options: dict[str, Any] | None) -> int:
        if options and options.get("start") is not None:
            return self.core.check_start(options["start"])
        return self.core.sample_start(self._rng(i))

    def reset(self) -> VecEnvObs:
        """Reset every copy (using the seeds/options set since the last reset, once)."""
        for i, s in enumerate(self._seeds):
            if s is not None:
                self._rngs[i], _ = seeding.np_random(s)
        starts = np.array([self._start(i, self._options[i]) for i in range(self.num_envs)])
        self.core.reset_copies(self._all, starts)
        self.reset_infos = self.core.infos()
        self._reset_seeds()
        self._reset_options()
        return self.core.observe()

    # --- stepping ----------------------------------------------------------------------------
    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step all copies; finished copies are reset automatically (SB3 semantics)."""
        core = self.core
        obs, reward, terminated, truncated = core.step(self._actions)
        done = terminated | truncated
        infos = core.infos()
        for info, cut in zip(infos, (truncated & ~terminated).tolist(), strict=True):
            info["TimeLimit.truncated"] = cut
        if done.any():
            rows = np.flatnonzero(done)
            for i in rows.tolist():
                infos[i]["terminal_observation"] = obs[i].copy()
            core.reset_copies(rows, np.array([self._start(i, None) for i in rows.tolist()]))
            obs[rows] = core.observe(rows)
            for i, info in zip(rows.tolist(), core.infos(rows), strict=True):
                self.reset_infos[i] = info
        return obs, reward.astype(np.float32), done, infos

    def close(self) -> None:
        """Nothing to release."""

    # --- VecEnv plumbing ---------------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of the (shared) environment, once per requested copy."""
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute; copies share one object, so only all copies can be targeted."""
        if len(list(self._get_indices(indices))) != self.num_envs:
            raise ValueError("set_attr on a subset of copies is not supported (shared state)")
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call a method of the (shared) environment once per requested copy."""
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Copies are never wrapped in Gymnasium wrappers."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering."""
        return [None for _ in range(self.num_envs)]
