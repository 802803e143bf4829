"""Tiny offline toy environments for the agent registry and training runner tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env


class ToySignalEnv(gym.Env[np.ndarray, Any]):
    """Observe a random signal in {-1, +1}; reward = position * signal. 16 steps per episode.

    ``continuous=False``: Discrete(3) → position in {-1, 0, +1}; ``continuous=True``:
    Box([-1], [1]) → position = action. Optimal return per episode is 16. ``reward_sign=-1``
    gives an adversarial eval env whose score falls as the agent learns the training env.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self, continuous: bool = False, episode_len: int = 16, reward_sign: float = 1.0
    ) -> None:
        self.continuous = continuous
        self.reward_sign = reward_sign
        self.episode_len = episode_len
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space: spaces.Space[Any] = (
            spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
            if continuous
            else spaces.Discrete(3)
        )
        self._t = 0
        self._signal = 1.0

    def _obs(self) -> np.ndarray:
        return np.array([self._signal, self._t / self.episode_len], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._signal = float(self.np_random.choice([-1.0, 1.0]))
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.continuous:
            position = float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0))
        else:
            position = float(int(action) - 1)
        reward = self.reward_sign * position * self._signal
        self._t += 1
        self._signal = float(self.np_random.choice([-1.0, 1.0]))
        return self._obs(), reward, False, self._t >= self.episode_len, {}


EnvFactory = Callable[[int], Any]


@pytest.fixture
def discrete_env_factory() -> Callable[[int], EnvFactory]:
    """``n_envs -> (seed -> VecEnv)`` on the discrete toy env."""

    def build(n_envs: int = 1) -> EnvFactory:
        return lambda seed: make_vec_env(lambda: ToySignalEnv(False), n_envs=n_envs, seed=seed)

    return build


@pytest.fixture
def continuous_env_factory() -> Callable[[int], EnvFactory]:
    """``n_envs -> (seed -> VecEnv)`` on the continuous toy env."""

    def build(n_envs: int = 1) -> EnvFactory:
        return lambda seed: make_vec_env(lambda: ToySignalEnv(True), n_envs=n_envs, seed=seed)

    return build


@pytest.fixture
def toy_env_cls() -> type[ToySignalEnv]:
    """The toy env class itself."""
    return ToySignalEnv


@pytest.fixture
def eval_factory() -> Callable[[], ToySignalEnv]:
    """``() -> Env``: the discrete toy env for evaluation."""
    return lambda: ToySignalEnv(False)


class ScheduledScoreEnv(ToySignalEnv):
    """An eval env whose episode return is fixed by a schedule, one entry per evaluation.

    The runner re-seeds the eval env before every evaluation; each seeded reset moves to the
    next entry, so evaluation k scores exactly ``schedule[k]`` whatever the policy does.
    """

    def __init__(self, schedule: list[float]) -> None:
        super().__init__(False)
        self.schedule = schedule
        self.evaluation = -1

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.evaluation += 1
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = super().step(action)
        score = self.schedule[min(self.evaluation, len(self.schedule) - 1)]
        return obs, score / self.episode_len, terminated, truncated, info


@pytest.fixture
def scheduled_eval_env_cls() -> type[ScheduledScoreEnv]:
    """The scheduled-score eval env class."""
    return ScheduledScoreEnv
