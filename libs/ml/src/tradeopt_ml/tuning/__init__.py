"""Hyperparameter tuning (pure): search spaces per algorithm, their validation and conversion to
Optuna distributions, sampler and pruner factories, and the objective taken from a run's metrics.

No DB, HTTP or Celery: the tuning service's study job drives Optuna with these pieces; each trial
is an ordinary training run whose validation metrics give the objective.
"""

from tradeopt_ml.tuning.objective import (
    MAX_OBJECTIVES,
    OBJECTIVE_METRICS,
    Objective,
    ObjectiveUnavailable,
    duplicate_metrics,
    objective_list,
    objective_value,
    objective_values,
    primary_index,
)
from tradeopt_ml.tuning.samplers import (
    MULTI_OBJECTIVE_SAMPLERS,
    PRUNERS,
    SAMPLERS,
    available_samplers,
    make_pruner,
    make_sampler,
    nsga2_population,
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
    "MAX_OBJECTIVES",
    "MULTI_OBJECTIVE_SAMPLERS",
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
    "duplicate_metrics",
    "make_pruner",
    "make_sampler",
    "nsga2_population",
    "objective_list",
    "objective_value",
    "objective_values",
    "parse_search_space",
    "primary_index",
    "space_to_json",
    "to_hyperparams",
    "to_optuna",
]
