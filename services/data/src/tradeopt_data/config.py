"""Settings of the data service."""

from __future__ import annotations

from functools import lru_cache

from tradeopt_common.config import CommonSettings


class DataSettings(CommonSettings):
    """Data-service settings (common ones plus data-specific limits)."""

    #: Rows per dataset (all symbols); sized to a data worker's concurrent jobs and the data
    #: API's reads within their memory limits (tests/deploy/test_limits.py measures both).
    dataset_max_rows: int = 2_000_000
    #: Uploads up to this size are validated and stored within the request (201); larger ones
    #: are staged in object storage and ingested by a job on the ``data`` queue (202).
    upload_inline_max_bytes: int = 8 * 1024 * 1024
    #: Fewer bars per symbol than this is a validation error for uploads.
    dataset_min_rows: int = 30


@lru_cache
def get_data_settings() -> DataSettings:
    """Process-wide data settings."""
    return DataSettings()
