"""Settings of the data service."""

from __future__ import annotations

from functools import lru_cache

from tradeopt_common.config import CommonSettings


class DataSettings(CommonSettings):
    """Data-service settings (common ones plus data-specific limits)."""

    dataset_max_rows: int = 5_000_000


@lru_cache
def get_data_settings() -> DataSettings:
    """Process-wide data settings."""
    return DataSettings()
