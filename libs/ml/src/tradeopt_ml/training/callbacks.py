"""SB3 callbacks of the training runner: exact budget, job hooks (progress, cancel, heartbeat),
evaluation with best-model keeping, and checkpoints.

Evaluations and checkpoints happen at rollout boundaries (``_on_rollout_start``), where the
model has been trained on every transition counted in ``num_timesteps``: a checkpoint there is
a consistent state to resume from. They fire at the first boundary at or after each multiple of
``eval_every``/``checkpoint_every`` (exactly on the multiple when the rollout size divides it).
At the end of training a checkpoint is written if a multiple was crossed since the last one, and
the final policy is always evaluated.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from tradeopt_ml.training.checkpoint import (
    BEST_MODEL_FILE,
    BEST_VECNORM_FILE,
    CheckpointState,
    capture_rng_state,
    save_checkpoint,
)
from tradeopt_ml.training.spec import EvalRecord, ProgressInfo, TrainHooks


@dataclass(slots=True)
class RunState:
    """Mutable state shared by the callbacks of one run (and saved in checkpoints)."""

    algorithm: str
    total: int
    seed: int
    workdir: Path
    best_eval: float | None = None
    best_eval_timesteps: int | None = None
    eval_history: list[EvalRecord] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    last_checkpoint: Path | None = None
    canceled: bool = False

    def checkpoint_state(self, timesteps: int) -> CheckpointState:
        """The ``state.json`` content for a checkpoint at ``timesteps``."""
        return CheckpointState(
            algorithm=self.algorithm,
            timesteps=timesteps,
            total_timesteps=self.total,
            seed=self.seed,
            best_eval=self.best_eval,
            best_eval_timesteps=self.best_eval_timesteps,
            eval_history=list(self.eval_history),
            rng=capture_rng_state(),
        )


def _next_multiple(timesteps: int, every: int) -> int:
    return (timesteps // every + 1) * every


class BudgetCallback(BaseCallback):
    """Stops collection as soon as ``num_timesteps`` reaches ``total`` so the run ends on the
    exact budget instead of overshooting to the next rollout/train-frequency boundary.

    At the last step of a rollout (or train-frequency chunk) it lets SB3 finish normally so the
    completed rollout is still trained on.
    """

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def _on_step(self) -> bool:
        if self.model.num_timesteps < self.total:
            return True
        locals_ = self.locals
        if "n_rollout_steps" in locals_:  # on-policy: n_steps is incremented after on_step
            return int(locals_["n_steps"]) + 1 >= int(locals_["n_rollout_steps"])
        train_freq = locals_.get("train_freq")
        if train_freq is not None and "num_collected_steps" in locals_:
            unit = getattr(getattr(train_freq, "unit", None), "value", "step")
            if unit == "step":
                return int(locals_["num_collected_steps"]) >= int(train_freq.frequency)
        return False


class HooksCallback(BaseCallback):
    """Forwards progress, heartbeats and cancellation between SB3 and :class:`TrainHooks`."""

    def __init__(self, hooks: TrainHooks, state: RunState) -> None:
        super().__init__()
        self.hooks = hooks
        self.state = state
        self._t0 = 0.0
        self._ts0 = 0
        self._last_progress = -math.inf
        self._last_heartbeat = -math.inf
        self._last_stop_check = -math.inf

    def _on_training_start(self) -> None:
        self._t0 = time.monotonic()
        self._ts0 = int(self.model.num_timesteps)
        self._emit_progress(time.monotonic())
        self._beat(time.monotonic(), force=True)

    def _recent_reward(self) -> float | None:
        buffer = self.model.ep_info_buffer
        if not buffer:
            return None
        return float(np.mean([info["r"] for info in buffer]))

    def _emit_progress(self, now: float) -> None:
        ts = int(self.model.num_timesteps)
        elapsed = now - self._t0
        sps = (ts - self._ts0) / elapsed if elapsed > 0 else 0.0
        remaining = max(self.state.total - ts, 0)
        self.hooks.on_progress(
            ProgressInfo(
                fraction=min(ts / self.state.total, 1.0),
                timesteps=ts,
                total=self.state.total,
                steps_per_s=sps,
                eta_s=(remaining / sps) if sps > 0 else None,
                recent_episode_reward=self._recent_reward(),
            )
        )
        self._last_progress = now

    def _beat(self, now: float, *, force: bool = False) -> None:
        if force or now - self._last_heartbeat >= self.hooks.heartbeat_interval_s:
            self.hooks.heartbeat()
            self._last_heartbeat = now

    def _on_step(self) -> bool:
        now = time.monotonic()
        if now - self._last_progress >= self.hooks.progress_interval_s:
            self._emit_progress(now)
        self._beat(now)
        if now - self._last_stop_check >= self.hooks.stop_check_interval_s:
            self._last_stop_check = now
            if self.hooks.should_stop():
                self.state.canceled = True
                return False
        return True

    def _on_training_end(self) -> None:
        self._emit_progress(time.monotonic())


class _PeriodicCallback(BaseCallback):
    """Runs :meth:`_fire` at rollout boundaries after each multiple of ``every`` timesteps."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self._next = every
        self._last_fired: int | None = None

    def _on_training_start(self) -> None:
        self._next = _next_multiple(int(self.model.num_timesteps), self.every)

    def _maybe_fire(self) -> None:
        ts = int(self.model.num_timesteps)
        if ts >= self._next and ts != self._last_fired:
            self._fire(ts)
            self._last_fired = ts
            self._next = _next_multiple(ts, self.every)

    def _on_rollout_start(self) -> None:
        self._maybe_fire()

    def _on_step(self) -> bool:
        return True

    @abstractmethod
    def _fire(self, timesteps: int) -> None:
        """Do the periodic work at ``timesteps`` (each subclass: checkpoint, evaluation)."""


class EvalCallback(_PeriodicCallback):
    """Evaluates on a separate env, records the history and keeps the best model.

    The eval env is re-seeded with the same seed before every evaluation, so successive
    evaluations are scored on the same episodes and are comparable.
    """

    def __init__(
        self,
        every: int,
        eval_env: VecEnv,
        *,
        state: RunState,
        hooks: TrainHooks,
        n_episodes: int,
        deterministic: bool,
        eval_seed: int,
        final: bool = True,
    ) -> None:
        super().__init__(every)
        self.eval_env = eval_env
        self.state = state
        self.hooks = hooks
        self.n_episodes = n_episodes
        self.deterministic = deterministic
        self.eval_seed = eval_seed
        self.final = final

    def _sync_normalization(self) -> None:
        train_norm = self.model.get_vec_normalize_env()
        if train_norm is not None and isinstance(self.eval_env, VecNormalize):
            self.eval_env.obs_rms = train_norm.obs_rms.copy()
            self.eval_env.ret_rms = train_norm.ret_rms.copy()

    def _fire(self, timesteps: int) -> None:
        from stable_baselines3.common.evaluation import evaluate_policy

        self.hooks.heartbeat()
        self._sync_normalization()
        self.eval_env.seed(self.eval_seed)
        rewards, lengths = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_episodes,
            deterministic=self.deterministic,
            return_episode_rewards=True,
            warn=False,
        )
        mean_reward = float(np.mean(rewards))
        is_best = self.state.best_eval is None or mean_reward > self.state.best_eval
        record = EvalRecord(
            timesteps=timesteps,
            mean_reward=mean_reward,
            std_reward=float(np.std(rewards)),
            mean_ep_length=float(np.mean(lengths)),
            is_best=is_best,
        )
        self.state.eval_history.append(record)
        if is_best:
            self.state.best_eval = mean_reward
            self.state.best_eval_timesteps = timesteps
            self._save_best()
        self.logger.record("eval/mean_reward", mean_reward)
        self.logger.record("eval/std_reward", record.std_reward)
        self.logger.record("eval/mean_ep_length", record.mean_ep_length)
        assert self.state.best_eval is not None  # set by this or an earlier evaluation
        self.logger.record("eval/best_mean_reward", float(self.state.best_eval))
        self.logger.dump(timesteps)
        self.hooks.on_eval(record)
        self.hooks.heartbeat()

    def _save_best(self) -> None:
        workdir = self.state.workdir
        tmp = workdir / f".{BEST_MODEL_FILE}.tmp-{os.getpid()}.zip"
        self.model.save(tmp)
        os.replace(tmp, workdir / BEST_MODEL_FILE)
        vecnorm = self.model.get_vec_normalize_env()
        if vecnorm is not None:
            tmp_norm = workdir / f".{BEST_VECNORM_FILE}.tmp-{os.getpid()}"
            vecnorm.save(str(tmp_norm))
            os.replace(tmp_norm, workdir / BEST_VECNORM_FILE)

    def _on_training_end(self) -> None:
        # The final policy is always scored (it may be the best one).
        ts = int(self.model.num_timesteps)
        if self.final and not self.state.canceled and ts != self._last_fired:
            self._fire(ts)
            self._last_fired = ts


class CheckpointCallback(_PeriodicCallback):
    """Writes a checkpoint folder every ``every`` timesteps and hands it to the hooks."""

    def __init__(
        self, every: int, *, state: RunState, hooks: TrainHooks, keep: int | None = None
    ) -> None:
        super().__init__(every)
        self.state = state
        self.hooks = hooks
        self.keep = keep

    def _fire(self, timesteps: int) -> None:
        self.hooks.heartbeat()
        path = save_checkpoint(
            self.model,
            self.state.workdir,
            self.state.checkpoint_state(timesteps),
            best_model_dir=self.state.workdir,
        )
        self.state.checkpoints.append(path)
        self.state.last_checkpoint = path
        self.hooks.on_checkpoint(path, timesteps)
        if self.keep is not None:
            # Only after the hook returned (uploaded): drop this run's oldest local folders.
            while len(self.state.checkpoints) > self.keep:
                shutil.rmtree(self.state.checkpoints.pop(0), ignore_errors=True)
        self.hooks.heartbeat()

    def _on_training_end(self) -> None:
        if not self.state.canceled:
            self._maybe_fire()


class LastValuesWriter(KVWriter):
    """A logger output that keeps the latest value of every numeric key (final metrics)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0
    ) -> None:
        """Remember the numeric values of this dump."""
        for key, value in key_values.items():
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool
            ):
                self.values[key] = float(value)

    def close(self) -> None:
        """Nothing to release."""
