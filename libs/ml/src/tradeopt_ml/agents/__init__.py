"""Agent registry: stable-baselines3 algorithms, validated hyperparameters and model factory.

``algorithm_names()``, ``hyperparam_schema()`` and ``validate_hyperparams()`` need no torch;
``make_model()``/``load_model()`` import stable-baselines3 on use.
"""

from tradeopt_ml.agents.factory import (
    load_model,
    make_model,
    resolve_device,
    seed_everything,
    torch_runtime,
)
from tradeopt_ml.agents.hyperparams import (
    A2CParams,
    DQNParams,
    HyperParams,
    PPOParams,
    SACParams,
    TD3Params,
    check_ppo_batch,
)
from tradeopt_ml.agents.registry import (
    AlgorithmInfo,
    algorithm_class,
    algorithm_names,
    check_action_space,
    get_algorithm,
    hyperparam_schema,
    validate_hyperparams,
)

__all__ = [
    "A2CParams",
    "AlgorithmInfo",
    "DQNParams",
    "HyperParams",
    "PPOParams",
    "SACParams",
    "TD3Params",
    "algorithm_class",
    "algorithm_names",
    "check_action_space",
    "check_ppo_batch",
    "get_algorithm",
    "hyperparam_schema",
    "load_model",
    "make_model",
    "resolve_device",
    "seed_everything",
    "torch_runtime",
    "validate_hyperparams",
]
