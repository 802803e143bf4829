"""Settings of the strategy service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr

from tradeopt_common.config import CommonSettings


class StrategySettings(CommonSettings):
    """Strategy-service settings."""

    #: Replay at ``speed: max`` commits its bars in batches growing from 256 up to this many
    #: (one transaction per batch, written while the next is computed; a crash loses at most the
    #: uncommitted batches, which are then processed again; the kill switch still acts within
    #: one bar: a batch offered after it is refused).
    strategy_commit_bars: int = Field(2048, ge=1, le=10_000)
    #: Loaded policies kept in memory by the API for signals (least recently used dropped).
    strategy_policy_cache: int = Field(8, ge=1, le=256)
    #: Largest number of bars one signal request may carry.
    strategy_max_signal_bars: int = Field(5000, ge=10)
    #: Alpaca paper-trading credentials and endpoint (secrets: ``.env`` / k8s Secret; never
    #: logged). ``ALPACA_*`` as in the SPY deployment seed, or ``TRADING_OPT_ALPACA_*``.
    alpaca_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ALPACA_API_KEY", "TRADING_OPT_ALPACA_API_KEY")
    )
    alpaca_api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ALPACA_API_SECRET", "TRADING_OPT_ALPACA_API_SECRET")
    )
    alpaca_base_url: str = Field(
        "https://paper-api.alpaca.markets",
        validation_alias=AliasChoices("ALPACA_BASE_URL", "TRADING_OPT_ALPACA_BASE_URL"),
    )


@lru_cache
def get_strategy_settings() -> StrategySettings:
    """Process-wide strategy settings."""
    return StrategySettings()
