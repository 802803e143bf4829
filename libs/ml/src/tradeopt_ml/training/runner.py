"""``train()``: one SB3 training run with checkpoints, resume, eval-best and job hooks.

Layout of ``workdir`` after a run::

    tb/                         TensorBoard event files (training + eval scalars)
    checkpoints/ckpt_<ts>/      see :mod:`tradeopt_ml.training.checkpoint`
    best_model.zip              best evaluated model (+ best_vecnormalize.pkl)
    final_model.zip             model at the end of training (+ vecnormalize.pkl)
    eval_history.json           every evaluation, in order

Seeds: a fresh run builds its training envs with ``make_train_env(spec.seed)``; a resumed run
with ``make_train_env(spec.seed + checkpoint_timesteps)`` (so the resumed segment does not
replay the opening episodes) and restores the python/numpy/torch RNG states of the checkpoint.
The eval env is re-seeded with ``spec.seed + 1_000_003`` before each evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecMonitor,
    VecNormalize,
    is_vecenv_wrapped,
)

from tradeopt_ml.agents.factory import load_model, make_model, resolve_device, torch_runtime
from tradeopt_ml.agents.registry import check_action_space, get_algorithm
from tradeopt_ml.training.callbacks import (
    BudgetCallback,
    CheckpointCallback,
    EvalCallback,
    HooksCallback,
    LastValuesWriter,
    RunState,
)
from tradeopt_ml.training.checkpoint import (
    BEST_MODEL_FILE,
    BEST_VECNORM_FILE,
    MODEL_FILE,
    REPLAY_FILE,
    VECNORM_FILE,
    read_checkpoint,
    restore_rng_state,
)
from tradeopt_ml.training.replay import load_replay_buffer
from tradeopt_ml.training.spec import TrainHooks, TrainingCanceled, TrainResult, TrainSpec

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

EVAL_SEED_OFFSET = 1_000_003
FINAL_MODEL_FILE = "final_model.zip"
EVAL_HISTORY_FILE = "eval_history.json"
TB_DIR = "tb"

TrainEnvFactory = Callable[[int], VecEnv | gym.Env[Any, Any]]
EvalEnvFactory = Callable[[], gym.Env[Any, Any] | VecEnv]


def _as_train_vec_env(env: VecEnv | gym.Env[Any, Any], n_envs: int) -> VecEnv:
    if not isinstance(env, VecEnv):
        env = DummyVecEnv([lambda e=env: e])  # type: ignore[misc]
    if env.num_envs != n_envs:
        env.close()
        raise ValueError(f"make_train_env returned {env.num_envs} env(s) but spec.n_envs={n_envs}")
    monitored = is_vecenv_wrapped(env, VecMonitor) or any(env.env_is_wrapped(Monitor))
    if not monitored:
        if isinstance(env, VecNormalize):
            # Record raw (unnormalised) episode rewards: monitor inside the normaliser.
            env.venv = VecMonitor(env.venv)
        else:
            env = VecMonitor(env)
    return env


def _as_eval_vec_env(env: VecEnv | gym.Env[Any, Any], train_env: VecEnv) -> VecEnv:
    if not isinstance(env, VecEnv):
        if not _is_monitored(env):
            env = Monitor(env)
        env = DummyVecEnv([lambda e=env: e])  # type: ignore[misc]
    if is_vecenv_wrapped(train_env, VecNormalize) and not is_vecenv_wrapped(env, VecNormalize):
        env = VecNormalize(env, training=False, norm_reward=False)
    return env


def _is_monitored(env: gym.Env[Any, Any]) -> bool:
    current: Any = env
    while isinstance(current, gym.Wrapper):
        if isinstance(current, Monitor):
            return True
        current = current.env
    return False


def _restore_vecnormalize(env: VecEnv, path: Path) -> None:
    norm = env if isinstance(env, VecNormalize) else None
    if norm is None:
        raise ValueError(
            f"checkpoint has {VECNORM_FILE} but make_train_env did not return a VecNormalize env"
        )
    saved = VecNormalize.load(str(path), norm.venv)
    norm.obs_rms = saved.obs_rms
    norm.ret_rms = saved.ret_rms


def _load_for_resume(
    spec: TrainSpec, ckpt: Path, env: VecEnv, device: str, workdir: Path
) -> BaseAlgorithm:
    if (ckpt / VECNORM_FILE).exists():
        _restore_vecnormalize(env, ckpt / VECNORM_FILE)
    model = load_model(spec.algorithm, ckpt / MODEL_FILE, env=env, device=device)
    if (ckpt / REPLAY_FILE).exists() and hasattr(model, "load_replay_buffer"):
        load_replay_buffer(model, ckpt / REPLAY_FILE)
    for name in (BEST_MODEL_FILE, BEST_VECNORM_FILE):
        if (ckpt / name).exists() and not (workdir / name).exists():
            shutil.copy2(ckpt / name, workdir / name)
    return model


def _make_logger(tb_dir: Path) -> tuple[Logger, LastValuesWriter]:
    tb_dir.mkdir(parents=True, exist_ok=True)
    last = LastValuesWriter()
    return Logger(str(tb_dir), [TensorBoardOutputFormat(str(tb_dir)), last]), last


def train(
    spec: TrainSpec | Mapping[str, Any],
    make_train_env: TrainEnvFactory,
    make_eval_env: EvalEnvFactory | None,
    workdir: Path,
    hooks: TrainHooks | None = None,
    resume_from: Path | None = None,
) -> TrainResult:
    """Train ``spec.algorithm`` for ``spec.total_timesteps`` environment steps.

    Args:
        spec: the run (a :class:`TrainSpec` or its dict form).
        make_train_env: ``seed -> VecEnv`` with ``spec.n_envs`` envs (a plain ``gym.Env`` is
            wrapped when ``n_envs == 1``). Envs without a monitor get a ``VecMonitor``.
            A ``VecNormalize`` env has its statistics checkpointed and restored.
        make_eval_env: ``() -> Env`` for periodic evaluation (needs ``spec.eval_every``).
        workdir: folder for checkpoints, models and TensorBoard logs (created).
        hooks: job-layer callbacks (progress, cancel, checkpoint upload, heartbeat).
        resume_from: a checkpoint folder to continue from (same algorithm and total).

    Returns:
        The :class:`TrainResult`; ``timesteps == spec.total_timesteps``.

    Raises:
        TrainingCanceled: ``hooks.should_stop()`` returned True.
        ValueError: invalid spec, incompatible env, mismatched checkpoint, unavailable device.
    """
    spec = spec if isinstance(spec, TrainSpec) else TrainSpec.model_validate(dict(spec))
    hooks = hooks or TrainHooks()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    info = get_algorithm(spec.algorithm)
    device = resolve_device(spec.device)

    state = RunState(
        algorithm=info.name, total=spec.total_timesteps, seed=spec.seed, workdir=workdir
    )
    start_ts = 0
    ckpt_state = None
    if resume_from is not None:
        resume_from = Path(resume_from)
        ckpt_state = read_checkpoint(resume_from)
        if ckpt_state.algorithm != info.name:
            raise ValueError(
                f"checkpoint {resume_from} is a {ckpt_state.algorithm!r} model, spec asks for "
                f"{info.name!r}"
            )
        start_ts = ckpt_state.timesteps
        if start_ts > spec.total_timesteps:
            raise ValueError(
                f"checkpoint at {start_ts} timesteps is past total_timesteps={spec.total_timesteps}"
            )
        state.best_eval = ckpt_state.best_eval
        state.best_eval_timesteps = ckpt_state.best_eval_timesteps
        state.eval_history = list(ckpt_state.eval_history)
        state.last_checkpoint = resume_from

    env_seed = spec.seed + start_ts
    train_env: VecEnv | None = None
    eval_env: VecEnv | None = None
    tb_logger: Logger | None = None
    t0 = time.monotonic()
    with torch_runtime(
        env_seed,
        deterministic=spec.deterministic,
        torch_threads=spec.torch_threads,
        using_cuda=device.startswith("cuda"),
    ):
        try:
            train_env = _as_train_vec_env(make_train_env(env_seed), spec.n_envs)
            check_action_space(info.name, train_env.action_space)
            if resume_from is not None:
                model = _load_for_resume(spec, resume_from, train_env, device, workdir)
                model.set_random_seed(env_seed)
                if ckpt_state is not None and ckpt_state.rng:
                    restore_rng_state(ckpt_state.rng)
            else:
                model = make_model(
                    info.name,
                    train_env,
                    spec.hyperparams,
                    seed=spec.seed,
                    device=device,
                    torch_threads=spec.torch_threads,
                    deterministic=spec.deterministic,
                )
            tb_logger, last_values = _make_logger(workdir / TB_DIR)
            model.set_logger(tb_logger)

            callbacks: list[Any] = [BudgetCallback(spec.total_timesteps)]
            callbacks.append(HooksCallback(hooks, state))
            if spec.eval_every is not None and make_eval_env is not None:
                eval_env = _as_eval_vec_env(make_eval_env(), train_env)
                callbacks.append(
                    EvalCallback(
                        spec.eval_every,
                        eval_env,
                        state=state,
                        hooks=hooks,
                        n_episodes=spec.eval_episodes,
                        deterministic=spec.eval_deterministic,
                        eval_seed=spec.seed + EVAL_SEED_OFFSET,
                    )
                )
            if spec.checkpoint_every is not None:
                callbacks.append(
                    CheckpointCallback(
                        spec.checkpoint_every, state=state, hooks=hooks, keep=spec.keep_checkpoints
                    )
                )

            remaining = spec.total_timesteps - start_ts
            if remaining > 0:
                model.learn(
                    total_timesteps=remaining,
                    callback=CallbackList(callbacks),
                    log_interval=1,
                    reset_num_timesteps=resume_from is None,
                    progress_bar=False,
                )
            timesteps = int(model.num_timesteps)
            if state.canceled:
                raise TrainingCanceled(timesteps, spec.total_timesteps, state.last_checkpoint)
            return _finish(model, spec, state, workdir, last_values, t0, start_ts, resume_from)
        finally:
            if tb_logger is not None:
                tb_logger.close()
            for env in (train_env, eval_env):
                if env is not None:
                    env.close()


def _finish(
    model: BaseAlgorithm,
    spec: TrainSpec,
    state: RunState,
    workdir: Path,
    last_values: LastValuesWriter,
    t0: float,
    start_ts: int,
    resumed_from: Path | None,
) -> TrainResult:
    final_path = workdir / FINAL_MODEL_FILE
    model.save(final_path)
    vecnorm_path = None
    vecnorm = model.get_vec_normalize_env()
    if vecnorm is not None:
        vecnorm_path = workdir / VECNORM_FILE
        vecnorm.save(str(vecnorm_path))
    history_path = workdir / EVAL_HISTORY_FILE
    tmp = history_path.with_name(f".{EVAL_HISTORY_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps([r.to_dict() for r in state.eval_history], indent=1))
    os.replace(tmp, history_path)

    seconds = time.monotonic() - t0
    timesteps = int(model.num_timesteps)
    steps_per_s = (timesteps - start_ts) / seconds if seconds > 0 else 0.0
    metrics = dict(last_values.values)
    if model.ep_info_buffer:
        rewards = [float(ep["r"]) for ep in model.ep_info_buffer]
        lengths = [float(ep["l"]) for ep in model.ep_info_buffer]
        metrics["ep_rew_mean"] = sum(rewards) / len(rewards)
        metrics["ep_len_mean"] = sum(lengths) / len(lengths)
    if state.best_eval is not None:
        metrics["best_eval_mean_reward"] = state.best_eval
    if state.eval_history:
        metrics["last_eval_mean_reward"] = state.eval_history[-1].mean_reward
    metrics["steps_per_s"] = steps_per_s
    best = workdir / BEST_MODEL_FILE
    return TrainResult(
        final_model_path=final_path,
        best_model_path=best if best.exists() else None,
        vecnormalize_path=vecnorm_path,
        tensorboard_dir=workdir / TB_DIR,
        timesteps=timesteps,
        eval_history=list(state.eval_history),
        seconds=seconds,
        steps_per_s=steps_per_s,
        final_metrics=metrics,
        resumed_from=resumed_from,
        checkpoints=list(state.checkpoints),
    )
