"""Build and load SB3 models from the registry: device choice, seeding and determinism."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces
from pydantic import BaseModel

from tradeopt_ml.agents.registry import (
    algorithm_class,
    check_action_space,
    get_algorithm,
    validate_hyperparams,
)

if TYPE_CHECKING:
    import gymnasium as gym
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(device: str = "auto") -> str:
    """Map a device request to a concrete torch device string.

    ``"auto"`` → ``"cuda"`` when ``torch.cuda.is_available()`` else ``"cpu"``; ``"cpu"`` as is;
    ``"cuda"``/``"cuda:N"`` only when CUDA is available.

    Raises:
        ValueError: an unknown device name, or CUDA requested on a machine without CUDA.
    """
    import torch

    requested = str(device).strip().lower()
    if not _DEVICE_RE.match(requested):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} requested but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use device='cpu' or 'auto'"
            )
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} requested but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
    return requested


def seed_everything(
    seed: int,
    *,
    deterministic: bool = False,
    torch_threads: int | None = None,
    using_cuda: bool = False,
) -> None:
    """Seed python, numpy and torch; optionally switch torch to deterministic mode.

    Deterministic mode turns on ``torch.use_deterministic_algorithms`` (warn-only, so an op
    without a deterministic kernel does not crash a run), disables cuDNN benchmarking and pins
    torch to one intra-op thread: with these, the same seed, env and config give bit-identical
    parameters on CPU. ``torch_threads`` (when not deterministic) sets the thread count. These
    are process-wide torch settings; :func:`torch_runtime` restores them afterwards.
    """
    import torch
    from stable_baselines3.common.utils import set_random_seed

    if deterministic:
        # Needed by cuBLAS for deterministic matmuls; must be set before CUDA initialises.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.set_num_threads(1)
    elif torch_threads is not None:
        torch.set_num_threads(int(torch_threads))
    set_random_seed(int(seed), using_cuda=using_cuda)
    torch.manual_seed(int(seed))


@contextmanager
def torch_runtime(
    seed: int,
    *,
    deterministic: bool = False,
    torch_threads: int | None = None,
    using_cuda: bool = False,
) -> Iterator[None]:
    """:func:`seed_everything` for the duration of a ``with`` block, restoring torch's global
    thread count and determinism flags on exit (a worker process runs many jobs).
    """
    import torch

    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_det, cudnn_bench = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    seed_everything(
        seed, deterministic=deterministic, torch_threads=torch_threads, using_cuda=using_cuda
    )
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.backends.cudnn.deterministic = cudnn_det
        torch.backends.cudnn.benchmark = cudnn_bench


def _policy_name(observation_space: spaces.Space[Any]) -> str:
    return "MultiInputPolicy" if isinstance(observation_space, spaces.Dict) else "MlpPolicy"


def _action_noise(params: BaseModel, action_space: spaces.Space[Any]) -> Any:
    sigma = float(getattr(params, "action_noise_sigma", 0.0) or 0.0)
    if sigma <= 0 or not isinstance(action_space, spaces.Box):
        return None
    from stable_baselines3.common.noise import NormalActionNoise

    # SB3 acts in the [-1, 1]-rescaled action space, so sigma is relative to the range.
    dim = int(np.prod(action_space.shape))
    return NormalActionNoise(mean=np.zeros(dim), sigma=sigma * np.ones(dim))


def make_model(
    name: str,
    env: gym.Env[Any, Any] | VecEnv,
    hyperparams: Mapping[str, Any] | BaseModel | None = None,
    *,
    seed: int,
    device: str = "auto",
    torch_threads: int | None = None,
    tensorboard_log: str | Path | None = None,
    deterministic: bool = False,
    verbose: int = 0,
) -> BaseAlgorithm:
    """Build an untrained SB3 model of algorithm ``name`` for ``env``.

    Args:
        name: a registered algorithm (``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``).
        env: a gymnasium ``Env`` or an SB3 ``VecEnv``.
        hyperparams: overrides of the algorithm defaults (validated; unknown keys are errors).
        seed: seeds python/numpy/torch and the env's action space.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see :func:`resolve_device`).
        torch_threads: torch intra-op threads (ignored when ``deterministic``, which uses 1).
        tensorboard_log: folder for SB3's TensorBoard logs, or None.
        deterministic: deterministic torch mode (process-wide; see :func:`seed_everything`).
        verbose: SB3 verbosity.

    Raises:
        ValueError: unknown algorithm, invalid hyperparameters, incompatible action space,
            unavailable device.
    """
    info = get_algorithm(name)
    check_action_space(info.name, env.action_space)
    n_envs = int(getattr(env, "num_envs", 1))
    params = validate_hyperparams(info.name, hyperparams, n_envs=n_envs)
    resolved = resolve_device(device)
    seed_everything(
        seed,
        deterministic=deterministic,
        torch_threads=torch_threads,
        using_cuda=resolved.startswith("cuda"),
    )
    kwargs = params.to_sb3_kwargs()
    noise = _action_noise(params, env.action_space)
    if noise is not None:
        kwargs["action_noise"] = noise
    cls = algorithm_class(info.name)
    return cls(
        _policy_name(env.observation_space),
        env,
        seed=int(seed),
        device=resolved,
        tensorboard_log=str(tensorboard_log) if tensorboard_log is not None else None,
        verbose=verbose,
        **kwargs,
    )


def load_model(
    name: str,
    path: str | Path,
    env: gym.Env[Any, Any] | VecEnv | None = None,
    *,
    device: str = "auto",
) -> BaseAlgorithm:
    """Load a saved model of algorithm ``name`` (``model.zip``), optionally attaching ``env``."""
    cls = algorithm_class(name)
    return cls.load(str(path), env=env, device=resolve_device(device))
