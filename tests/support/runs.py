"""The body of a small PPO training run on a daily sample (seconds on a CPU), for the tests that
train through the APIs."""

from __future__ import annotations

from typing import Any


def small_ppo(*, n_steps: int = 128, n_epochs: int = 1, **fields: Any) -> dict[str, Any]:
    """A PPO run of ``n_steps``-bar episodes on a window of 8 bars of log returns and RSI, split
    at 2015 and 2019; ``fields`` add top-level fields (``dataset_id``, ``total_timesteps``,
    ``seed``, …)."""
    return {
        "algorithm": "ppo",
        "hyperparams": {"n_steps": n_steps, "batch_size": 64, "n_epochs": n_epochs},
        "env": {
            "window": 8,
            "episode_length": n_steps,
            "features": {"features": ["log_return", "rsi"]},
        },
        "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
        **fields,
    }
