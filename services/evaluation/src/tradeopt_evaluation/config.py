"""Settings of the evaluation service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from tradeopt_common.config import CommonSettings


class EvaluationSettings(CommonSettings):
    """Evaluation-service settings."""

    #: Seeds of the ``random`` baseline whose distribution every evaluation reports.
    evaluation_random_seeds: int = Field(20, ge=1, le=1000)
    #: Bootstrap resamples for the Sharpe confidence interval.
    evaluation_bootstrap_resamples: int = Field(2000, ge=100, le=100_000)


@lru_cache
def get_evaluation_settings() -> EvaluationSettings:
    """Process-wide evaluation settings."""
    return EvaluationSettings()
