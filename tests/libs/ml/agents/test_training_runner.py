"""Training runner: determinism, cancel, checkpoint cadence, resume, eval-best, TensorBoard."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from stable_baselines3.common.vec_env import VecNormalize

from tradeopt_ml.agents import load_model
from tradeopt_ml.training import (
    ProgressInfo,
    TrainHooks,
    TrainingCanceled,
    TrainSpec,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint,
    train,
)

pytestmark = pytest.mark.unit

PPO_SMALL = {"n_steps": 32, "batch_size": 16, "n_epochs": 2, "net_arch": [16]}


def _ppo(**fields: Any) -> TrainSpec:
    """A small PPO training spec (``PPO_SMALL``) with ``fields``."""
    return TrainSpec(algorithm="ppo", hyperparams=PPO_SMALL, **fields)


DQN_SMALL = {"learning_starts": 32, "batch_size": 16, "buffer_size": 2000, "net_arch": [16]}
SAC_SMALL = {"learning_starts": 32, "batch_size": 16, "buffer_size": 2000, "net_arch": [16]}


def _params(path: Path, algo: str) -> dict[str, np.ndarray]:
    model = load_model(algo, path, device="cpu")
    return {k: v.detach().cpu().numpy() for k, v in model.policy.state_dict().items()}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("algo", "hp"), [("ppo", PPO_SMALL), ("dqn", DQN_SMALL)])
def test_same_seed_identical_parameters(
    algo: str, hp: dict, discrete_env_factory: Callable, tmp_path: Path
) -> None:
    def run(seed: int, name: str) -> dict[str, np.ndarray]:
        spec = TrainSpec(algorithm=algo, hyperparams=hp, total_timesteps=192, seed=seed)
        result = train(spec, discrete_env_factory(), None, tmp_path / name)
        assert result.timesteps == 192
        return _params(result.final_model_path, algo)

    a, b, c = run(7, "a"), run(7, "b"), run(8, "c")
    assert _same(a, b)
    assert not _same(a, c)


def test_sac_same_seed_identical_parameters(
    continuous_env_factory: Callable, tmp_path: Path
) -> None:
    runs = []
    for name in ("a", "b"):
        spec = TrainSpec(algorithm="sac", hyperparams=SAC_SMALL, total_timesteps=96, seed=3)
        runs.append(
            _params(
                train(spec, continuous_env_factory(), None, tmp_path / name).final_model_path, "sac"
            )
        )
    assert _same(runs[0], runs[1])


def test_exact_budget_with_vectorised_envs(discrete_env_factory: Callable, tmp_path: Path) -> None:
    # 2 envs x 32 steps = 64-step rollouts; 200 is not a multiple, yet the run ends on 200.
    spec = _ppo(total_timesteps=200, n_envs=2)
    result = train(spec, discrete_env_factory(2), None, tmp_path)
    assert result.timesteps == 200
    assert result.final_model_path.is_file()
    assert result.steps_per_s > 0
    assert result.final_metrics["steps_per_s"] == result.steps_per_s
    assert "train/value_loss" in result.final_metrics


def test_cancel_stops_promptly(discrete_env_factory: Callable, tmp_path: Path) -> None:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 50

    spec = _ppo(total_timesteps=5_000)
    with pytest.raises(TrainingCanceled) as info:
        train(spec, discrete_env_factory(), None, tmp_path, TrainHooks(should_stop=should_stop))
    assert info.value.timesteps == 50
    assert info.value.total == 5_000
    assert info.value.last_checkpoint is None
    assert not (tmp_path / "final_model.zip").exists()


def test_checkpoint_cadence_and_contents(discrete_env_factory: Callable, tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []
    hooks = TrainHooks(on_checkpoint=lambda path, ts: seen.append((path.name, ts)))
    spec = TrainSpec(
        algorithm="dqn", hyperparams=DQN_SMALL, total_timesteps=256, checkpoint_every=64, seed=1
    )
    result = train(spec, discrete_env_factory(), None, tmp_path, hooks)
    assert [ts for _, ts in seen] == [64, 128, 192, 256]
    assert [p.name for p in result.checkpoints] == [name for name, _ in seen]
    assert list_checkpoints(tmp_path) == result.checkpoints
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt is not None and ckpt.name == "ckpt_000000000256"
    assert {p.name for p in ckpt.iterdir()} >= {"model.zip", "replay_buffer.pkl", "state.json"}
    state = read_checkpoint(ckpt)
    assert (state.timesteps, state.total_timesteps, state.algorithm) == (256, 256, "dqn")
    assert state.rng is not None and set(state.rng) == {"python", "numpy", "torch"}
    # No half-written temp folders are left behind.
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]


def test_on_policy_checkpoint_has_no_replay_buffer(
    discrete_env_factory: Callable, tmp_path: Path
) -> None:
    spec = TrainSpec(
        algorithm="ppo", hyperparams=PPO_SMALL, total_timesteps=128, checkpoint_every=64
    )
    result = train(spec, discrete_env_factory(), None, tmp_path)
    assert [p.name for p in result.checkpoints] == ["ckpt_000000000064", "ckpt_000000000128"]
    assert not (result.checkpoints[0] / "replay_buffer.pkl").exists()


class _Crash(RuntimeError):
    pass


@pytest.mark.parametrize(("algo", "hp"), [("ppo", PPO_SMALL), ("dqn", DQN_SMALL)])
def test_resume_after_crash(
    algo: str, hp: dict, discrete_env_factory: Callable, tmp_path: Path, eval_factory: Callable
) -> None:
    spec = TrainSpec(
        algorithm=algo,
        hyperparams=hp,
        total_timesteps=256,
        checkpoint_every=64,
        eval_every=64,
        eval_episodes=2,
        seed=4,
    )

    def crash_at_128(path: Path, ts: int) -> None:
        if ts == 128:
            raise _Crash("worker died")

    with pytest.raises(_Crash):
        train(
            spec,
            discrete_env_factory(),
            eval_factory,
            tmp_path / "run",
            TrainHooks(on_checkpoint=crash_at_128),
        )
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt is not None and read_checkpoint(ckpt).timesteps == 128
    assert [r.timesteps for r in read_checkpoint(ckpt).eval_history] == [64, 128]

    progress: list[ProgressInfo] = []
    fresh_workdir = tmp_path / "resumed"  # a new machine: only the checkpoint folder survives
    result = train(
        spec,
        discrete_env_factory(),
        eval_factory,
        fresh_workdir,
        TrainHooks(on_progress=progress.append, progress_interval_s=0.0),
        resume_from=ckpt,
    )
    assert result.timesteps == 256
    assert result.resumed_from == ckpt
    assert progress[0].fraction >= 0.5
    assert progress[0].timesteps == 128
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert progress[-1].fraction == 1.0
    assert [r.timesteps for r in result.eval_history] == [64, 128, 192, 256]
    assert [p.name for p in result.checkpoints] == ["ckpt_000000000192", "ckpt_000000000256"]
    assert result.best_model_path is not None and result.best_model_path.is_file()
    final = load_model(algo, result.final_model_path, device="cpu")
    assert final.num_timesteps == 256
    if algo == "dqn":
        assert (ckpt / "replay_buffer.pkl").is_file()
        resumed = load_model(algo, result.checkpoints[-1] / "model.zip", device="cpu")
        resumed.load_replay_buffer(result.checkpoints[-1] / "replay_buffer.pkl")
        assert resumed.replay_buffer.size() == 256  # the pre-crash transitions were kept


def test_resume_is_deterministic(discrete_env_factory: Callable, tmp_path: Path) -> None:
    spec = TrainSpec(
        algorithm="ppo", hyperparams=PPO_SMALL, total_timesteps=192, checkpoint_every=64
    )
    train(spec, discrete_env_factory(), None, tmp_path / "first")
    ckpt = tmp_path / "first" / "checkpoints" / "ckpt_000000000064"
    a = train(spec, discrete_env_factory(), None, tmp_path / "r1", resume_from=ckpt)
    b = train(spec, discrete_env_factory(), None, tmp_path / "r2", resume_from=ckpt)
    assert _same(_params(a.final_model_path, "ppo"), _params(b.final_model_path, "ppo"))


def test_resume_rejects_other_algorithm(discrete_env_factory: Callable, tmp_path: Path) -> None:
    spec = TrainSpec(
        algorithm="ppo", hyperparams=PPO_SMALL, total_timesteps=64, checkpoint_every=64
    )
    result = train(spec, discrete_env_factory(), None, tmp_path / "a")
    other = TrainSpec(algorithm="dqn", hyperparams=DQN_SMALL, total_timesteps=128)
    with pytest.raises(ValueError, match="is a 'ppo' model"):
        train(
            other, discrete_env_factory(), None, tmp_path / "b", resume_from=result.checkpoints[0]
        )


def test_eval_keeps_the_best_model(
    discrete_env_factory: Callable, tmp_path: Path, scheduled_eval_env_cls: type
) -> None:
    schedule = [1.0, 5.0, 3.0, 5.0, 2.0]  # evaluation k scores schedule[k]
    evals: list[Any] = []
    spec = _ppo(
        total_timesteps=320,
        eval_every=64,
        checkpoint_every=64,
        eval_episodes=2,
        seed=2,
    )
    result = train(
        spec,
        discrete_env_factory(),
        lambda: scheduled_eval_env_cls(schedule),
        tmp_path,
        TrainHooks(on_eval=evals.append),
    )
    history = result.eval_history
    assert [r.timesteps for r in history] == [64, 128, 192, 256, 320]
    assert [r.mean_reward for r in history] == pytest.approx(schedule)
    assert [r.is_best for r in history] == [True, True, False, False, False]  # ties don't win
    assert evals == history
    assert result.final_metrics["best_eval_mean_reward"] == pytest.approx(5.0)
    assert result.final_metrics["last_eval_mean_reward"] == pytest.approx(2.0)
    # best_model.zip is the policy evaluated at 128 steps (== the checkpoint taken there),
    # not the final one.
    best = _params(result.best_model_path, "ppo")
    assert _same(best, _params(tmp_path / "checkpoints/ckpt_000000000128/model.zip", "ppo"))
    assert not _same(best, _params(result.final_model_path, "ppo"))
    state = read_checkpoint(tmp_path / "checkpoints/ckpt_000000000256")
    assert (state.best_eval, state.best_eval_timesteps) == (pytest.approx(5.0), 128)
    saved = json.loads((tmp_path / "eval_history.json").read_text())
    assert [r["mean_reward"] for r in saved] == [r.mean_reward for r in history]


def test_eval_best_survives_resume(
    discrete_env_factory: Callable, tmp_path: Path, scheduled_eval_env_cls: type
) -> None:
    spec = _ppo(
        total_timesteps=192,
        eval_every=64,
        checkpoint_every=64,
        eval_episodes=1,
    )
    first = train(
        spec, discrete_env_factory(), lambda: scheduled_eval_env_cls([9.0]), tmp_path / "a"
    )
    ckpt = first.checkpoints[0]
    # After resuming, evaluations score lower than the pre-crash best: the best model stays.
    resumed = train(
        spec,
        discrete_env_factory(),
        lambda: scheduled_eval_env_cls([1.0]),
        tmp_path / "b",
        resume_from=ckpt,
    )
    assert [r.is_best for r in resumed.eval_history] == [True, False, False]
    assert resumed.final_metrics["best_eval_mean_reward"] == pytest.approx(9.0)
    assert _same(_params(resumed.best_model_path, "ppo"), _params(ckpt / "best_model.zip", "ppo"))


def test_tensorboard_event_files(
    discrete_env_factory: Callable, tmp_path: Path, eval_factory: Callable
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = TrainSpec(
        algorithm="ppo", hyperparams=PPO_SMALL, total_timesteps=128, eval_every=64, eval_episodes=1
    )
    result = train(spec, discrete_env_factory(), eval_factory, tmp_path)
    files = list(result.tensorboard_dir.glob("events.out.tfevents.*"))
    assert files
    acc = EventAccumulator(str(result.tensorboard_dir))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"eval/mean_reward", "train/value_loss", "rollout/ep_rew_mean"} <= tags
    assert [e.step for e in acc.Scalars("eval/mean_reward")] == [64, 128]


def test_vecnormalize_is_checkpointed_and_restored(
    discrete_env_factory: Callable, tmp_path: Path, eval_factory: Callable
) -> None:
    def make_env(seed: int) -> VecNormalize:
        return VecNormalize(discrete_env_factory()(seed), gamma=0.99)

    spec = TrainSpec(
        algorithm="ppo", hyperparams=PPO_SMALL, total_timesteps=128, checkpoint_every=64
    )
    first = train(spec, make_env, eval_factory, tmp_path / "a")
    ckpt = first.checkpoints[0]
    assert (ckpt / "vecnormalize.pkl").is_file()
    assert first.vecnormalize_path is not None and first.vecnormalize_path.is_file()
    saved = VecNormalize.load(str(ckpt / "vecnormalize.pkl"), discrete_env_factory()(0))
    assert saved.obs_rms.count > 60

    resumed = train(spec, make_env, None, tmp_path / "b", resume_from=ckpt)
    final = VecNormalize.load(str(resumed.vecnormalize_path), discrete_env_factory()(0))
    # Statistics continued from the checkpoint instead of restarting from zero.
    assert final.obs_rms.count > saved.obs_rms.count + 60


def test_spec_validation() -> None:
    with pytest.raises(ValidationError, match="unknown algorithm"):
        TrainSpec(algorithm="trpo", total_timesteps=10)
    with pytest.raises(ValidationError, match="multiple of n_envs"):
        TrainSpec(algorithm="a2c", total_timesteps=10, n_envs=3)
    with pytest.raises(ValidationError, match="torch_threads"):
        TrainSpec(algorithm="a2c", total_timesteps=10, torch_threads=4)
    with pytest.raises(ValidationError, match="incompatible with the rollout size"):
        TrainSpec(algorithm="ppo", total_timesteps=10, hyperparams={"batch_size": 100})
    with pytest.raises(ValidationError, match="total_timesteps"):
        TrainSpec(algorithm="ppo", total_timesteps=0)
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        TrainSpec(algorithm="ppo", total_timesteps=10, lr=1)
    spec = TrainSpec(algorithm="PPO", total_timesteps=10, torch_threads=2, deterministic=False)
    assert spec.algorithm == "ppo"
    assert spec.params().n_steps == 256


def test_env_count_must_match_spec(discrete_env_factory: Callable, tmp_path: Path) -> None:
    spec = TrainSpec(algorithm="a2c", total_timesteps=64, n_envs=2)
    with pytest.raises(ValueError, match="returned 1 env"):
        train(spec, discrete_env_factory(1), None, tmp_path)


def test_algorithm_incompatible_with_env(continuous_env_factory: Callable, tmp_path: Path) -> None:
    spec = TrainSpec(algorithm="dqn", total_timesteps=64)
    with pytest.raises(ValueError, match="continuous action space"):
        train(spec, continuous_env_factory(), None, tmp_path)


def test_replay_buffer_file_holds_only_filled_rows(
    discrete_env_factory: Callable, tmp_path: Path
) -> None:
    from stable_baselines3.common.save_util import save_to_pkl

    from tradeopt_ml.training.replay import load_replay_buffer

    spec = TrainSpec(
        algorithm="dqn",
        hyperparams={**DQN_SMALL, "buffer_size": 20_000},
        total_timesteps=128,
        checkpoint_every=128,
    )
    result = train(spec, discrete_env_factory(), None, tmp_path)
    ckpt = result.checkpoints[-1]
    model = load_model("dqn", ckpt / "model.zip", device="cpu")
    load_replay_buffer(model, ckpt / "replay_buffer.pkl")
    buffer = model.replay_buffer
    assert buffer.size() == 128
    assert buffer.observations.shape[0] == 20_000  # padded back to capacity
    assert np.any(buffer.observations[:128] != 0)
    assert not np.any(buffer.observations[128:])
    full = tmp_path / "full.pkl"
    save_to_pkl(full, buffer)
    assert (ckpt / "replay_buffer.pkl").stat().st_size * 10 < full.stat().st_size
    # The compact file round-trips to the same contents as SB3's own format.
    reference = load_model("dqn", ckpt / "model.zip", device="cpu")
    reference.load_replay_buffer(full)
    for name in ("observations", "next_observations", "actions", "rewards", "dones"):
        assert np.array_equal(getattr(buffer, name), getattr(reference.replay_buffer, name))


def test_keep_checkpoints_prunes_old_local_folders(
    discrete_env_factory: Callable, tmp_path: Path
) -> None:
    uploaded: list[int] = []
    spec = _ppo(
        total_timesteps=256,
        checkpoint_every=64,
        keep_checkpoints=2,
    )
    result = train(
        spec,
        discrete_env_factory(),
        None,
        tmp_path,
        TrainHooks(on_checkpoint=lambda _p, ts: uploaded.append(ts)),
    )
    assert uploaded == [64, 128, 192, 256]
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt_000000000192",
        "ckpt_000000000256",
    ]
    assert result.checkpoints == list_checkpoints(tmp_path)


def test_hooks_heartbeat_and_torch_state_restored(
    discrete_env_factory: Callable, tmp_path: Path
) -> None:
    import torch

    beats = {"n": 0}
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()

    def heartbeat() -> None:
        beats["n"] += 1

    spec = TrainSpec(algorithm="a2c", total_timesteps=64, checkpoint_every=32, deterministic=True)
    train(spec, discrete_env_factory(), None, tmp_path, TrainHooks(heartbeat=heartbeat))
    # One at start, plus two around each of the two checkpoints.
    assert beats["n"] >= 5
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
