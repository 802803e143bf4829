"""Multi-objective pieces of the tuning library: objectives read from a run's validation block
(``max_drawdown`` as its depth, natural directions), the Pareto front (the same members as
Optuna's ``best_trials``), per-objective importances and figures, the Pareto-front figure, and
the validation figures a run reports (Sortino, Calmar, volatility, turnover).
"""

import numpy as np
import optuna
import pytest

from tradeopt_ml.training.experiment import summary_figures
from tradeopt_ml.tuning import (
    MULTI_OBJECTIVE_SAMPLERS,
    Objective,
    ObjectiveUnavailable,
    duplicate_metrics,
    make_sampler,
    nsga2_population,
    objective_list,
    objective_values,
    primary_index,
)
from tradeopt_ml.tuning.results import Target, dominates, param_importances, pareto_front, plot

pytestmark = pytest.mark.unit
VALIDATION = {
    "sharpe": 1.2,
    "sortino": 1.9,
    "calmar": 0.8,
    "total_return": 0.1,
    "max_drawdown": -0.25,
    "volatility": 0.15,
    "turnover": 3.0,
}


class TestObjectives:
    def test_a_metric_alone_takes_its_natural_direction(self) -> None:
        assert Objective.model_validate("max_drawdown").direction == "minimize"
        assert Objective.model_validate({"metric": "turnover"}).direction == "minimize"
        assert Objective.model_validate({"metric": "sortino"}).direction == "maximize"
        assert Objective().model_dump() == {"metric": "sharpe", "direction": "maximize"}
        chosen = Objective.model_validate({"metric": "max_drawdown", "direction": "maximize"})
        assert chosen.direction == "maximize"  # an explicit direction is kept

    def test_values_in_order_and_drawdown_as_its_depth(self) -> None:
        objectives = objective_list([{"metric": "sharpe"}, {"metric": "max_drawdown"}])
        assert objective_values({"validation": VALIDATION}, objectives) == [1.2, 0.25]
        flat = objective_values({"max_drawdown": 0.0}, [Objective(metric="max_drawdown")])
        assert flat == [0.0] and str(flat[0]) == "0.0"
        with pytest.raises(ObjectiveUnavailable, match="turnover"):
            objective_values(
                {"sharpe": 1.0, "turnover": None}, objective_list(["sharpe", "turnover"])
            )

    def test_stored_forms_duplicates_and_primary(self) -> None:
        assert objective_list(None) == [Objective()]
        assert objective_list({"metric": "calmar"}) == [Objective(metric="calmar")]
        listed = objective_list(["turnover", "sharpe"])
        assert [o.metric for o in listed] == ["turnover", "sharpe"]
        assert primary_index(listed) == 1  # the Sharpe objective
        assert primary_index(objective_list(["turnover", "calmar"])) == 0
        assert duplicate_metrics(objective_list(["sharpe", "calmar", "sharpe"])) == ["sharpe"]


class TestParetoFront:
    def test_dominance_follows_the_directions(self) -> None:
        assert dominates([2.0, 0.1], [1.0, 0.2], ["maximize", "minimize"])
        assert not dominates([2.0, 0.3], [1.0, 0.2], ["maximize", "minimize"])
        assert not dominates([1.0, 0.2], [1.0, 0.2], ["maximize", "minimize"])  # equal
        points = [[1.0, 0.2], [2.0, 0.3], [0.5, 0.25], [2.0, 0.3], [0.1, 0.05]]
        assert pareto_front(points, ["maximize", "minimize"]) == [0, 1, 3, 4]

    def test_same_members_as_optunas_best_trials(self) -> None:
        rng = np.random.default_rng(4)
        study = optuna.create_study(
            directions=["maximize", "minimize"], sampler=make_sampler("nsga2", 1, population_size=4)
        )
        for _ in range(12):
            trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
            study.tell(trial, [float(rng.normal()), float(rng.random())])
        values = [t.values for t in study.trials]
        ours = pareto_front(values, ["maximize", "minimize"])
        assert ours == sorted(t.number for t in study.best_trials)
        for i in ours:  # non-dominated, checked the long way
            assert not any(dominates(v, values[i], ["maximize", "minimize"]) for v in values)


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=make_sampler("random", 0)
    )
    dists = {
        "x": optuna.distributions.FloatDistribution(0, 1),
        "y": optuna.distributions.FloatDistribution(0, 1),
    }
    for _ in range(8):
        trial = study.ask(dists)
        x, y = trial.params["x"], trial.params["y"]
        study.tell(trial, [x + 0.01 * y, 3.0 * y + 0.01 * x])
    return study


class TestPerObjectiveResults:
    def test_importances_per_target(self, study: optuna.Study) -> None:
        first = param_importances(study, seed=0, target=Target(0, "sharpe"))
        second = param_importances(study, seed=0, target=Target(1, "turnover"))
        assert max(first, key=first.__getitem__) == "x"  # the first objective is x's
        assert max(second, key=second.__getitem__) == "y"
        assert param_importances(study, seed=0, target=Target(1, "turnover")) == second

    def test_figures_per_target_and_the_pareto_front(self, study: optuna.Study) -> None:
        history = plot(study, "optimization_history", seed=0, target=Target(1, "turnover"))
        assert history["layout"]["yaxis"]["title"]["text"] == "turnover"
        front = plot(study, "pareto_front", seed=0, names=["sharpe", "turnover"])
        assert front["layout"]["xaxis"]["title"]["text"] == "sharpe"
        assert front["layout"]["yaxis"]["title"]["text"] == "turnover"
        shown = sum(len(trace.get("x", [])) for trace in front["data"])
        assert shown == 8  # dominated trials included
        single = optuna.create_study()
        single.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
        with pytest.raises(ValueError, match="2 or 3 objectives"):
            plot(single, "pareto_front", seed=0)


def test_samplers_and_population() -> None:
    assert "cmaes" not in MULTI_OBJECTIVE_SAMPLERS and "nsga2" in MULTI_OBJECTIVE_SAMPLERS
    assert [nsga2_population(n) for n in (1, 8, 40, 1000)] == [4, 4, 10, 50]
    sampler = make_sampler("nsga2", 0, population_size=6)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)


def test_validation_figures_include_the_objective_metrics() -> None:
    equity = np.array([100.0, 101.0, 99.0, 102.0, 103.0])
    positions = np.array([[0.0], [1.0], [1.0], [0.0], [0.5]])
    figures = summary_figures(equity, 252.0, positions=positions)
    assert figures["max_drawdown"] == pytest.approx(99.0 / 101.0 - 1.0)
    assert figures["bars"] == 4
    assert {"sortino", "calmar", "volatility", "turnover"} <= set(figures)
    # |Δw| = 0 (from flat) ... 1 + 0 + 1 + 0.5 = 2.5 over 5 bars, annualised
    assert figures["turnover"] == pytest.approx(2.5 / 5 * 252.0)
    assert figures["volatility"] is not None and figures["volatility"] > 0
    assert (
        "turnover" in summary_figures(equity, 252.0)
        and summary_figures(equity, 252.0)["turnover"] is None
    )
