"""Search spaces: defaults per algorithm, JSON overrides with field-level errors, conversion."""

import optuna
import pytest

from tradeopt_ml.agents.registry import algorithm_names, validate_hyperparams
from tradeopt_ml.tuning import (
    CategoricalDistribution,
    FloatDistribution,
    SearchSpaceError,
    default_search_space,
    parse_search_space,
    space_to_json,
    to_hyperparams,
    to_optuna,
)

pytestmark = pytest.mark.unit


def _locs(exc: SearchSpaceError) -> list[list[str]]:
    return [e["loc"] for e in exc.errors]


@pytest.mark.parametrize("algorithm", algorithm_names())
class TestDefaults:
    def test_every_algorithm_has_a_space_that_parses_back(self, algorithm: str) -> None:
        space = default_search_space(algorithm)
        assert space
        assert parse_search_space(algorithm, space_to_json(space)) == space

    def test_sampled_trials_are_valid_hyperparameters(self, algorithm: str) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        distributions = to_optuna(default_search_space(algorithm))
        for _ in range(20):
            trial = study.ask(distributions)
            validate_hyperparams(algorithm, to_hyperparams(trial.params))
            study.tell(trial, 0.0)


#: A PPO search space overriding three parameters: a log-scale float, a stepped int and a choice.
PPO_OVERRIDE = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
    "n_epochs": {"type": "int", "low": 2, "high": 10, "step": 2},
    "net_arch": {"type": "categorical", "choices": ["32x32", "64"]},
}


class TestParse:
    def test_none_or_empty_is_the_default(self) -> None:
        assert parse_search_space("ppo", None) == default_search_space("ppo")
        assert parse_search_space("PPO", {}) == default_search_space("ppo")

    def test_override_keeps_only_the_given_parameters(self) -> None:
        space = parse_search_space("ppo", PPO_OVERRIDE)
        assert set(space) == {"learning_rate", "n_epochs", "net_arch"}
        assert space["learning_rate"] == FloatDistribution(low=1e-5, high=1e-3, log=True)
        assert space["net_arch"] == CategoricalDistribution(choices=["32x32", "64"])

    def test_unknown_algorithm(self) -> None:
        with pytest.raises(ValueError, match="unknown algorithm"):
            parse_search_space("xgboost", {})

    @pytest.mark.parametrize(
        ("raw", "loc"),
        [
            ({"lr": {"type": "float", "low": 0.1, "high": 0.2}}, ["lr"]),
            ({"gamma": {"type": "gaussian", "low": 0.9, "high": 1}}, ["gamma"]),
            ({"gamma": {"type": "float", "low": 0.9}}, ["gamma", "high"]),
            ({"gamma": {"type": "float", "low": 0.99, "high": 0.9}}, ["gamma", "high"]),
            (
                {"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}},
                ["learning_rate", "low"],
            ),
            (
                {
                    "learning_rate": {
                        "type": "float",
                        "low": 1e-4,
                        "high": 1e-2,
                        "log": True,
                        "step": 1e-4,
                    }
                },
                ["learning_rate", "step"],
            ),
            ({"n_epochs": {"type": "int", "low": 1, "high": 9, "step": 0}}, ["n_epochs", "step"]),
            ({"gamma": {"type": "float", "low": 0.9, "high": 1.5}}, ["gamma", "high"]),
            ({"n_epochs": {"type": "int", "low": 0, "high": 10}}, ["n_epochs", "low"]),
            (
                {"activation_fn": {"type": "categorical", "choices": ["tanh", "gelu"]}},
                ["activation_fn", "choices"],
            ),
            (
                {"activation_fn": {"type": "categorical", "choices": []}},
                ["activation_fn", "choices"],
            ),
            (
                {"net_arch": {"type": "categorical", "choices": ["64x", "64x64"]}},
                ["net_arch", "choices"],
            ),
            ({"net_arch": {"type": "categorical", "choices": ["8192"]}}, ["net_arch", "choices"]),
            (
                {"gamma": {"type": "float", "low": 0.9, "high": 0.99, "extra": 1}},
                ["gamma", "extra"],
            ),
        ],
    )
    def test_bad_field_is_named(self, raw: dict, loc: list[str]) -> None:
        with pytest.raises(SearchSpaceError) as info:
            parse_search_space("ppo", raw)
        assert loc in _locs(info.value), info.value.errors
        assert str(info.value)

    def test_every_bad_parameter_is_reported(self) -> None:
        with pytest.raises(SearchSpaceError) as info:
            parse_search_space(
                "dqn",
                {
                    "clip_range": {"type": "float", "low": 0.1, "high": 0.3},  # PPO only
                    "gamma": {"type": "float", "low": 0.9, "high": 2.0},
                    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3},
                },
            )
        assert _locs(info.value) == [["clip_range"], ["gamma", "high"]]


class TestConvert:
    def test_to_optuna(self) -> None:
        dists = to_optuna(parse_search_space("ppo", PPO_OVERRIDE))
        assert dists["learning_rate"] == optuna.distributions.FloatDistribution(
            1e-5, 1e-3, log=True
        )
        assert dists["n_epochs"] == optuna.distributions.IntDistribution(2, 10, step=2)
        assert dists["net_arch"] == optuna.distributions.CategoricalDistribution(["32x32", "64"])

    def test_to_hyperparams_expands_net_arch_only(self) -> None:
        assert to_hyperparams({"net_arch": "128x64", "gamma": 0.99}) == {
            "net_arch": [128, 64],
            "gamma": 0.99,
        }
