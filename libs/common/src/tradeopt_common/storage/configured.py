"""The artifact store described by the settings."""

from __future__ import annotations

from tradeopt_common.config import CommonSettings
from tradeopt_common.storage.base import ArtifactStore
from tradeopt_common.storage.factory import make_store


def store_from_settings(settings: CommonSettings) -> ArtifactStore:
    """S3 when ``TRADING_OPT_STORAGE_ENDPOINT`` is set, else the local artifact folder."""
    return make_store(
        endpoint=settings.storage_endpoint,
        access_key=settings.storage_access_key,
        secret_key=settings.storage_secret_key.get_secret_value(),
        bucket=settings.storage_bucket,
        secure=settings.storage_secure,
        region=settings.storage_region,
        local_root=settings.artifact_dir,
    )


def init_storage(settings: CommonSettings) -> str:
    """Create the bucket or folder if missing; returns where artifacts go."""
    store_from_settings(settings).ensure_ready()
    if settings.storage_endpoint:
        return f"s3://{settings.storage_bucket} at {settings.storage_endpoint}"
    return str(settings.artifact_dir)
