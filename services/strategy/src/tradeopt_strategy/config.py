"""Settings of the strategy service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr, field_validator

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

    #: Alpaca's market-data endpoint for the bar feed (``ALPACA_DATA_URL``; tests point it at a
    #: local fake) and its data feed (``iex`` for free accounts, ``sip`` with a subscription).
    alpaca_data_url: str = Field(
        "https://data.alpaca.markets",
        validation_alias=AliasChoices("ALPACA_DATA_URL", "TRADING_OPT_ALPACA_DATA_URL"),
    )
    alpaca_data_feed: str = Field(
        "iex",
        pattern=r"^(iex|sip|otc|boats|overnight)$",
        validation_alias=AliasChoices("ALPACA_DATA_FEED", "TRADING_OPT_ALPACA_DATA_FEED"),
    )
    #: The bar feed (``python -m tradeopt_strategy.feed``) asks the provider for every active
    #: feed session's new bars this often.
    strategy_feed_poll_seconds: float = Field(60.0, gt=0, le=86_400)
    #: After a failed poll (provider down, 5xx, 429, timeout) a session's next attempt waits
    #: ``poll * 2**(failures-1)`` seconds, at most this long; the session stays running.
    strategy_feed_max_backoff_seconds: float = Field(900.0, gt=0, le=86_400)
    #: Timeout of one request to the market-data API.
    strategy_feed_timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("alpaca_api_key", "alpaca_api_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty ``ALPACA_*`` (compose passes ``${ALPACA_API_KEY:-}``) means not configured."""
        return None if value == "" else value


@lru_cache
def get_strategy_settings() -> StrategySettings:
    """Process-wide strategy settings."""
    return StrategySettings()
