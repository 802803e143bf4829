"""The algorithm registry: which SB3 algorithms exist, their hyperparameter models and the
action spaces they support.

Validation is importable without torch: the SB3 class is resolved lazily in
:func:`algorithm_class`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gymnasium import spaces
from pydantic import BaseModel

from tradeopt_ml.agents.hyperparams import (
    A2CParams,
    DQNParams,
    PPOParams,
    SACParams,
    TD3Params,
)

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm


@dataclass(frozen=True, slots=True)
class AlgorithmInfo:
    """Static description of one registered algorithm."""

    name: str
    sb3_class: str
    params: type[BaseModel]
    action_spaces: tuple[type[spaces.Space[Any]], ...]
    off_policy: bool

    @property
    def action_space_names(self) -> list[str]:
        """Names of the supported gymnasium action space classes."""
        return [cls.__name__ for cls in self.action_spaces]


_ON_POLICY_SPACES: tuple[type[spaces.Space[Any]], ...] = (
    spaces.Discrete,
    spaces.Box,
    spaces.MultiDiscrete,
    spaces.MultiBinary,
)

_REGISTRY: dict[str, AlgorithmInfo] = {
    "ppo": AlgorithmInfo("ppo", "PPO", PPOParams, _ON_POLICY_SPACES, off_policy=False),
    "a2c": AlgorithmInfo("a2c", "A2C", A2CParams, _ON_POLICY_SPACES, off_policy=False),
    "dqn": AlgorithmInfo("dqn", "DQN", DQNParams, (spaces.Discrete,), off_policy=True),
    "sac": AlgorithmInfo("sac", "SAC", SACParams, (spaces.Box,), off_policy=True),
    "td3": AlgorithmInfo("td3", "TD3", TD3Params, (spaces.Box,), off_policy=True),
}


def algorithm_names() -> list[str]:
    """The registered algorithm names (lower case), e.g. ``["a2c", "dqn", "ppo", ...]``."""
    return sorted(_REGISTRY)


def get_algorithm(name: str) -> AlgorithmInfo:
    """Look up an algorithm by (case-insensitive) name.

    Raises:
        ValueError: unknown algorithm; the message lists the known names.
    """
    key = str(name).strip().lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValueError(
            f"unknown algorithm {name!r}; known algorithms: {', '.join(algorithm_names())}"
        ) from None


def algorithm_class(name: str) -> type[BaseAlgorithm]:
    """The stable-baselines3 class implementing ``name`` (imports SB3 on first use)."""
    import stable_baselines3

    cls: type[BaseAlgorithm] = getattr(stable_baselines3, get_algorithm(name).sb3_class)
    return cls


def hyperparam_schema(name: str) -> dict[str, Any]:
    """JSON schema of the hyperparameters of ``name`` (for the API docs)."""
    info = get_algorithm(name)
    schema = info.params.model_json_schema()
    schema["title"] = f"{info.sb3_class} hyperparameters"
    return schema


def check_action_space(name: str, action_space: spaces.Space[Any]) -> None:
    """Raise ``ValueError`` when ``name`` cannot act in ``action_space``.

    For example DQN needs a ``Discrete`` action space, SAC and TD3 need a continuous ``Box``.
    """
    info = get_algorithm(name)
    if not isinstance(action_space, info.action_spaces):
        kind = (
            "continuous"
            if isinstance(action_space, spaces.Box)
            else "discrete"
            if isinstance(action_space, spaces.Discrete)
            else type(action_space).__name__
        )
        raise ValueError(
            f"algorithm {info.name!r} does not support a {kind} action space "
            f"({type(action_space).__name__}); it requires "
            f"{' or '.join(info.action_space_names)}"
            + (
                " — use ppo, a2c, sac or td3 for continuous actions, or a discrete env"
                if info.name == "dqn"
                else " — use ppo, a2c or dqn for discrete actions, or a continuous env"
                if info.name in {"sac", "td3"}
                else ""
            )
        )


def validate_hyperparams(
    name: str,
    hyperparams: Mapping[str, Any] | BaseModel | None = None,
    *,
    action_space: spaces.Space[Any] | None = None,
    n_envs: int = 1,
) -> Any:
    """Validate ``hyperparams`` for algorithm ``name`` and return the typed model.

    Missing keys take the algorithm's defaults. ``n_envs`` is used for the PPO batch-size check;
    when ``action_space`` is given the algorithm must support it.

    Raises:
        ValueError: unknown algorithm or incompatible action space.
        pydantic.ValidationError: unknown keys or out-of-range values (a ``ValueError`` too).
    """
    info = get_algorithm(name)
    if action_space is not None:
        check_action_space(info.name, action_space)
    if isinstance(hyperparams, BaseModel):
        if not isinstance(hyperparams, info.params):
            raise ValueError(
                f"{type(hyperparams).__name__} is not the hyperparameter model of {info.name!r} "
                f"({info.params.__name__})"
            )
        hyperparams = hyperparams.model_dump()
    return info.params.model_validate(dict(hyperparams or {}), context={"n_envs": n_envs})
