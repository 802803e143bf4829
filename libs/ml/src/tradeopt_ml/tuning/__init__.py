"""Hyperparameter tuning (pure): search spaces per algorithm, their validation and conversion to
Optuna distributions, sampler and pruner factories, and the objective taken from a run's metrics.

No DB, HTTP or Celery: the tuning service's study job drives Optuna with these pieces; each trial
is an ordinary training run whose validation metrics give the objective.
"""

from tradeopt_ml.tuning.objective import (
    OBJECTIVE_METRICS,
    Objective,
    ObjectiveUnavailable,
    objective_value,
)
from tradeopt_ml.tuning.samplers import (
    PRUNERS,
    SAMPLERS,
    available_samplers,
    make_pruner,
    make_sampler,
)
from tradeopt_ml.tuning.spaces import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    SearchSpaceError,
    default_search_space,
    parse_search_space,
    space_to_json,
    to_hyperparams,
    to_optuna,
)

__all__ = [
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "SAMPLERS",
    "CategoricalDistribution",
    "Distribution",
    "FloatDistribution",
    "IntDistribution",
    "Objective",
    "ObjectiveUnavailable",
    "SearchSpaceError",
    "available_samplers",
    "default_search_space",
    "make_pruner",
    "make_sampler",
    "objective_value",
    "parse_search_space",
    "space_to_json",
    "to_hyperparams",
    "to_optuna",
]
