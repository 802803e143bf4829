"""Artifact storage: one interface, a local-folder and an S3 implementation.

Use :func:`make_store` (or ``tradeopt_common.storage.configured.store_from_settings``) to get the
configured store; every method is synchronous.
"""

from tradeopt_common.storage.base import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MAX_KEY_LENGTH,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    ChunkIterator,
    InvalidArtifactKey,
    ObjectInfo,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)
from tradeopt_common.storage.factory import make_store
from tradeopt_common.storage.local import LocalArtifactStore
from tradeopt_common.storage.s3 import S3ArtifactStore

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "MAX_KEY_LENGTH",
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFound",
    "ArtifactStore",
    "ChunkIterator",
    "InvalidArtifactKey",
    "LocalArtifactStore",
    "ObjectInfo",
    "S3ArtifactStore",
    "StorageUnavailable",
    "make_store",
    "validate_key",
    "validate_prefix",
]
