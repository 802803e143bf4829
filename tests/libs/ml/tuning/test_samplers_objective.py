"""Samplers and pruners by name (seeded), and the objective read from a run's metrics."""

import math

import optuna
import pytest

from tradeopt_ml.tuning import (
    PRUNERS,
    SAMPLERS,
    Objective,
    ObjectiveUnavailable,
    available_samplers,
    make_pruner,
    make_sampler,
    objective_value,
)

pytestmark = pytest.mark.unit


def _params(sampler_name: str, seed: int) -> list[dict]:
    study = optuna.create_study(sampler=make_sampler(sampler_name, seed, n_startup_trials=2))
    dists = {
        "x": optuna.distributions.FloatDistribution(-3, 3),
        "k": optuna.distributions.IntDistribution(1, 8),
    }
    out = []
    for _ in range(5):
        trial = study.ask(dists)
        study.tell(trial, (trial.params["x"] - 1) ** 2 + trial.params["k"])
        out.append(trial.params)
    return out


class TestSamplers:
    def test_core_samplers_are_always_available(self) -> None:
        assert {"tpe", "random", "nsga2"} <= set(available_samplers())
        assert set(available_samplers()) <= set(SAMPLERS)

    @pytest.mark.parametrize("name", sorted(SAMPLERS))
    def test_same_seed_same_suggestions(self, name: str) -> None:
        if name not in available_samplers():
            with pytest.raises(ValueError, match="not installed"):
                make_sampler(name, 1)
            return
        assert _params(name, 11) == _params(name, 11)

    def test_different_seeds_differ(self) -> None:
        assert _params("random", 1) != _params("random", 2)

    def test_unknown_sampler(self) -> None:
        with pytest.raises(ValueError, match="unknown sampler 'annealing'"):
            make_sampler("annealing", 1)


class TestPruners:
    @pytest.mark.parametrize("name", PRUNERS)
    def test_known(self, name: str) -> None:
        assert isinstance(make_pruner(name), optuna.pruners.BasePruner)

    def test_none_never_prunes(self) -> None:
        study = optuna.create_study(pruner=make_pruner("none"))
        trial = study.ask()
        trial.report(-1e9, 1)
        assert not trial.should_prune()

    def test_unknown_pruner(self) -> None:
        with pytest.raises(ValueError, match="unknown pruner"):
            make_pruner("patient")


class TestObjective:
    metrics = {"validation": {"sharpe": 1.25, "sortino": 2.0, "calmar": None, "total_return": 0.1}}

    @pytest.mark.parametrize(("metric", "value"), [("sharpe", 1.25), ("total_return", 0.1)])
    def test_reads_the_validation_block(self, metric: str, value: float) -> None:
        assert objective_value(self.metrics, Objective(metric=metric)) == value
        assert objective_value(self.metrics["validation"], Objective(metric=metric)) == value

    @pytest.mark.parametrize(
        "metrics",
        [
            None,
            {},
            {"validation": {"calmar": None}},
            {"validation": {"calmar": math.nan}},
            {"validation": {"calmar": "1.0"}},
            {"validation": {"calmar": True}},
        ],
    )
    def test_missing_or_not_finite(self, metrics: dict | None) -> None:
        with pytest.raises(ObjectiveUnavailable, match="calmar"):
            objective_value(metrics, Objective(metric="calmar"))

    def test_defaults_and_strictness(self) -> None:
        assert Objective() == Objective(metric="sharpe", direction="maximize")
        with pytest.raises(ValueError):
            Objective(metric="alpha")
