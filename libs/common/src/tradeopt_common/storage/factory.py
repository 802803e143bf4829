"""Build the configured artifact store."""

from __future__ import annotations

from pathlib import Path

from tradeopt_common.storage.base import ArtifactStore
from tradeopt_common.storage.local import LocalArtifactStore
from tradeopt_common.storage.s3 import S3ArtifactStore

__all__ = ["make_store"]


def make_store(
    endpoint: str | None,
    access_key: str,
    secret_key: str,
    bucket: str,
    secure: bool,
    region: str | None,
    local_root: Path,
) -> ArtifactStore:
    """Return an S3 store when ``endpoint`` is set, else a local-folder store.

    Nothing is contacted or created here; call ``ensure_ready()`` (deploy/init) or ``ping()``
    (readiness) on the result.

    Args:
        endpoint: S3 ``host:port`` (or ``http(s)://host:port``); ``None`` or empty for local.
        access_key: S3 access key.
        secret_key: S3 secret key.
        bucket: S3 bucket name.
        secure: Use TLS for S3 (ignored when ``endpoint`` has a scheme).
        region: S3 region, or ``None`` to ask the server.
        local_root: The artifact folder used when there is no endpoint.

    Returns:
        The artifact store.

    Raises:
        ValueError: If the S3 endpoint or bucket name is malformed.
    """
    if endpoint and endpoint.strip():
        return S3ArtifactStore(
            endpoint,
            access_key,
            secret_key,
            bucket,
            secure=secure,
            region=region,
        )
    return LocalArtifactStore(local_root)
