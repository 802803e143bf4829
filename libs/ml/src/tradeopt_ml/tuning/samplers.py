"""Optuna samplers and pruners by name, seeded. Optuna is imported on first use (it comes with the
``rl`` extra or the tuning service's own dependencies).
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

#: Sampler names and the optional modules each needs beyond Optuna itself.
SAMPLERS: dict[str, tuple[str, ...]] = {
    "tpe": (),
    "random": (),
    "cmaes": ("cmaes",),
    "qmc": ("scipy",),
    "gp": ("scipy", "torch"),
    "nsga2": (),
}

#: Samplers that can drive a study with several objectives (Optuna's CMA-ES cannot).
MULTI_OBJECTIVE_SAMPLERS: tuple[str, ...] = ("tpe", "random", "qmc", "gp", "nsga2")

#: Pruner names.
PRUNERS: tuple[str, ...] = ("median", "successive_halving", "hyperband", "none")


def available_samplers() -> list[str]:
    """The sampler names whose optional dependencies are installed in this process."""
    return [
        name
        for name, needs in SAMPLERS.items()
        if all(importlib.util.find_spec(module) is not None for module in needs)
    ]


def nsga2_population(n_trials: int) -> int:
    """NSGA-II's generation size for a study of ``n_trials``: a quarter of the trials, between 4
    and Optuna's default 50, so a study of a few dozen trials sees several generations (with the
    default 50 every trial of a 20-trial study is in the random first generation).
    """
    return max(4, min(50, n_trials // 4))


def make_sampler(
    name: str,
    seed: int | None = None,
    *,
    n_startup_trials: int = 10,
    population_size: int = 50,
) -> BaseSampler:
    """A seeded Optuna sampler by name.

    Args:
        name: one of :data:`SAMPLERS`.
        seed: the sampler's seed (same seed, same trials, same order → same suggestions).
        n_startup_trials: random trials before a model-based sampler (TPE, GP) takes over.
        population_size: NSGA-II's generation size (see :func:`nsga2_population`).

    Raises:
        ValueError: unknown name, or its optional dependency is not installed.
    """
    import optuna

    key = str(name).strip().lower()
    if key not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known samplers: {', '.join(SAMPLERS)}")
    if key not in available_samplers():
        missing = [m for m in SAMPLERS[key] if importlib.util.find_spec(m) is None]
        raise ValueError(f"sampler {name!r} needs {', '.join(missing)}, not installed here")
    if key == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    if key == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if key == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=n_startup_trials)
    with warnings.catch_warnings():  # QMC and GP are marked experimental; we pin Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if key == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, scramble=True)
        if key == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)


def make_pruner(name: str) -> BasePruner:
    """An Optuna pruner by name (``none`` never prunes).

    Raises:
        ValueError: unknown name.
    """
    import optuna

    key = str(name).strip().lower()
    if key == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if key == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if key == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if key == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}; known pruners: {', '.join(PRUNERS)}")
