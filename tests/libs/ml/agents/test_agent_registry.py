"""Agent registry: hyperparameter validation, schemas, model construction, device selection."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from tradeopt_ml.agents import (
    PPOParams,
    algorithm_names,
    hyperparam_schema,
    make_model,
    resolve_device,
    validate_hyperparams,
)

pytestmark = pytest.mark.unit

DISCRETE_ALGOS = ["ppo", "a2c", "dqn"]
CONTINUOUS_ALGOS = ["ppo", "a2c", "sac", "td3"]


def test_algorithm_names() -> None:
    assert algorithm_names() == ["a2c", "dqn", "ppo", "sac", "td3"]


def test_unknown_algorithm_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown algorithm 'trpo'.*a2c, dqn, ppo, sac, td3"):
        validate_hyperparams("trpo", {})
    with pytest.raises(ValueError, match="unknown algorithm"):
        hyperparam_schema("nope")


def test_algorithm_name_is_case_insensitive() -> None:
    assert isinstance(validate_hyperparams("PPO", {}), PPOParams)


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        validate_hyperparams("ppo", {"learning_rat": 1e-3})
    assert info.value.errors()[0]["loc"] == ("learning_rat",)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    # Keys of another algorithm are unknown too.
    with pytest.raises(ValidationError, match="buffer_size"):
        validate_hyperparams("ppo", {"buffer_size": 1000})


@pytest.mark.parametrize(
    ("algo", "params", "field"),
    [
        ("ppo", {"learning_rate": 0.0}, "learning_rate"),
        ("ppo", {"learning_rate": -1e-3}, "learning_rate"),
        ("a2c", {"gamma": 0.0}, "gamma"),
        ("sac", {"gamma": 1.01}, "gamma"),
        ("ppo", {"n_steps": 0}, "n_steps"),
        ("dqn", {"batch_size": 0}, "batch_size"),
        ("ppo", {"activation_fn": "sigmoid"}, "activation_fn"),
        ("td3", {"net_arch": []}, "net_arch"),
        ("ppo", {"net_arch": ["a"]}, "net_arch"),
        ("ppo", {"clip_range": 0.0}, "clip_range"),
        ("ppo", {"ent_coef": -0.1}, "ent_coef"),
        ("sac", {"tau": 0.0}, "tau"),
        ("dqn", {"buffer_size": 0}, "buffer_size"),
        ("dqn", {"learning_starts": -1}, "learning_starts"),
        ("td3", {"train_freq": 0}, "train_freq"),
    ],
)
def test_out_of_range_values_are_rejected(algo: str, params: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_hyperparams(algo, params)
    assert field in {str(part) for err in info.value.errors() for part in err["loc"]}


def test_net_arch_layer_sizes_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="net_arch layer sizes"):
        validate_hyperparams("ppo", {"net_arch": [64, 0]})


def test_sac_ent_coef_auto_or_positive() -> None:
    assert validate_hyperparams("sac", {"ent_coef": 0.1}).ent_coef == 0.1
    assert validate_hyperparams("sac", {}).ent_coef == "auto"
    with pytest.raises(ValidationError, match="ent_coef"):
        validate_hyperparams("sac", {"ent_coef": -0.1})


def test_ppo_batch_size_must_fit_the_rollout() -> None:
    with pytest.raises(ValidationError, match=r"n_steps \* n_envs = 256 \* 1 = 256"):
        validate_hyperparams("ppo", {"batch_size": 100})
    with pytest.raises(ValidationError, match="batch_size=512 is incompatible"):
        validate_hyperparams("ppo", {"n_steps": 256, "batch_size": 512})
    # With 4 envs the rollout is 1024 transitions, so 512 fits.
    params = validate_hyperparams("ppo", {"n_steps": 256, "batch_size": 512}, n_envs=4)
    assert params.batch_size == 512
    with pytest.raises(ValidationError, match="n_steps \\* n_envs > 1"):
        validate_hyperparams("ppo", {"n_steps": 1, "batch_size": 1})


def test_incompatible_action_space_names_the_problem() -> None:
    box = gym.spaces.Box(-1.0, 1.0, shape=(1,))
    with pytest.raises(ValueError, match=r"'dqn' does not support a continuous action space"):
        validate_hyperparams("dqn", {}, action_space=box)
    for algo in ("sac", "td3"):
        with pytest.raises(ValueError, match=rf"'{algo}' does not support a discrete"):
            validate_hyperparams(algo, {}, action_space=gym.spaces.Discrete(3))
    assert validate_hyperparams("ppo", {}, action_space=box) is not None


def test_make_model_rejects_dqn_on_continuous_env(toy_env_cls: type) -> None:
    with pytest.raises(ValueError, match="continuous action space"):
        make_model("dqn", toy_env_cls(continuous=True), {}, seed=0, device="cpu")


@pytest.mark.parametrize("algo", algorithm_names())
def test_schema_is_json_with_documented_fields(algo: str) -> None:
    schema = hyperparam_schema(algo)
    json.dumps(schema)
    props = schema["properties"]
    assert {"learning_rate", "gamma", "net_arch", "activation_fn"} <= set(props)
    assert props["learning_rate"]["exclusiveMinimum"] == 0
    assert schema["additionalProperties"] is False
    assert schema["title"].endswith("hyperparameters")


@pytest.mark.parametrize(
    ("algo", "continuous"),
    [(a, False) for a in DISCRETE_ALGOS] + [(a, True) for a in CONTINUOUS_ALGOS],
)
def test_defaults_build_a_model(algo: str, continuous: bool, toy_env_cls: type) -> None:
    model = make_model(algo, toy_env_cls(continuous=continuous), None, seed=1, device="cpu")
    assert type(model).__name__ == algo.upper()
    assert model.device.type == "cpu"
    defaults = validate_hyperparams(algo, {})
    assert model.gamma == defaults.gamma
    first_hidden = next(m for m in model.policy.modules() if isinstance(m, torch.nn.Linear))
    assert first_hidden.out_features == defaults.net_arch[0]


def test_hyperparams_reach_the_model(toy_env_cls: type) -> None:
    model = make_model(
        "ppo",
        toy_env_cls(),
        {"n_steps": 32, "batch_size": 16, "net_arch": [8], "activation_fn": "relu"},
        seed=0,
        device="cpu",
    )
    assert (model.n_steps, model.batch_size) == (32, 16)
    linears = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [8]
    assert any(isinstance(m, torch.nn.ReLU) for m in model.policy.mlp_extractor.policy_net)


def test_td3_gets_exploration_noise(toy_env_cls: type) -> None:
    model = make_model("td3", toy_env_cls(continuous=True), {}, seed=0, device="cpu")
    assert model.action_noise is not None
    off = make_model(
        "td3", toy_env_cls(continuous=True), {"action_noise_sigma": 0.0}, seed=0, device="cpu"
    )
    assert off.action_noise is None


def test_same_seed_same_initial_parameters(toy_env_cls: type) -> None:
    def params(seed: int) -> list[np.ndarray]:
        model = make_model("sac", toy_env_cls(continuous=True), {}, seed=seed, device="cpu")
        return [t.detach().numpy().copy() for t in model.policy.state_dict().values()]

    a, b, c = params(5), params(5), params(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_device_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match=r"'cuda' requested but CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_make_model_cuda_without_cuda(monkeypatch: pytest.MonkeyPatch, toy_env_cls: type) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        make_model("ppo", toy_env_cls(), {}, seed=0, device="cuda")
