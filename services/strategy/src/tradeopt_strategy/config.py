"""Settings of the strategy service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from tradeopt_common.config import CommonSettings


class StrategySettings(CommonSettings):
    """Strategy-service settings."""

    #: Replay at ``speed: max`` commits its bars in batches of this many (one transaction per
    #: batch; a crash loses at most the uncommitted batch, which is then processed again).
    strategy_commit_bars: int = Field(512, ge=1, le=10_000)
    #: Loaded policies kept in memory by the API for signals (least recently used dropped).
    strategy_policy_cache: int = Field(8, ge=1, le=256)
    #: Largest number of bars one signal request may carry.
    strategy_max_signal_bars: int = Field(5000, ge=10)


@lru_cache
def get_strategy_settings() -> StrategySettings:
    """Process-wide strategy settings."""
    return StrategySettings()
