"""Request bodies of ``POST /api/v1/studies`` for the tuning tests."""

from __future__ import annotations

from typing import Any

LEARNING_RATE = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}


def study_body(
    dataset_id: str, gammas: list[float], searched: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any]:
    """A small A2C study (4 trials, 2 at a time, 128 timesteps each) searching the learning rate,
    ``gammas`` and the ``searched`` parameters; ``fields`` add to or replace the body's fields.
    """
    return {
        "dataset_id": dataset_id,
        "algorithm": "a2c",
        "n_trials": 4,
        "parallelism": 2,
        "timesteps_per_trial": 128,
        "search_space": {
            "learning_rate": LEARNING_RATE,
            "gamma": {"type": "categorical", "choices": gammas},
            **searched,
        },
        **fields,
    }
