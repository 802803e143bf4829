"""Artifact store in an S3 bucket (AWS S3, MinIO, SeaweedFS, ...) through the ``minio`` SDK.

The SHA-256 of every object is computed before upload and stored as user metadata
(``x-amz-meta-sha256``): S3 needs metadata when the upload starts, so streams of unknown length
are first spooled to a temporary file while being hashed. Files and spooled streams larger than
``part_size`` go up as multipart uploads.

SDK and transport errors are mapped to the store's typed errors: ``NoSuchKey`` becomes
:class:`ArtifactNotFound`; a missing bucket, refused credentials, 5xx answers and connection
failures become :class:`StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, BinaryIO, NoReturn
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from minio.helpers import MIN_PART_SIZE, check_bucket_name
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from tradeopt_common.storage.base import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    ChunkIterator,
    ObjectInfo,
    StorageUnavailable,
    copy_hashing,
    is_valid_key,
    utc,
    validate_key,
    validate_prefix,
    write_atomic,
)

__all__ = ["CONTENT_TYPE_METADATA", "SHA256_METADATA", "S3ArtifactStore", "normalize_endpoint"]

SHA256_METADATA = "x-amz-meta-sha256"
"""The object header that carries the content's SHA-256."""

CONTENT_TYPE_METADATA = "x-amz-meta-content-type"
"""The object header that repeats the content type given at upload.

Some servers (SeaweedFS) replace ``application/octet-stream`` with a type guessed from the key's
extension; the copy in user metadata keeps the round trip exact.
"""

DEFAULT_PART_SIZE = 16 * 1024 * 1024
_DELETE_BATCH = 1000
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }
)


def normalize_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Turn an endpoint setting into the ``host[:port]`` and TLS flag the SDK wants.

    ``http://`` / ``https://`` in the setting win over ``secure``.

    Args:
        endpoint: ``host:port``, or a URL such as ``https://s3.example.com``.
        secure: Whether to use TLS when the endpoint carries no scheme.

    Returns:
        ``(host[:port], secure)``.

    Raises:
        ValueError: If the endpoint is empty or has a path, query or credentials.
    """
    value = endpoint.strip()
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported storage endpoint scheme: {endpoint!r}")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"storage endpoint must be host[:port] only: {endpoint!r}")
        return parts.netloc, parts.scheme == "https"
    value = value.rstrip("/")
    if not value or "/" in value:
        raise ValueError(f"storage endpoint must be host[:port]: {endpoint!r}")
    return value, secure


def _pool(
    *,
    connect_timeout: float,
    read_timeout: float,
    retries: int,
    cert_check: bool = True,
) -> urllib3.PoolManager:
    """An HTTP pool with bounded timeouts and retries (the SDK default waits up to 5 min)."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if cert_check else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=retries,
            connect=retries,
            read=min(retries, 1),
            backoff_factor=0.2,
            backoff_max=2.0,
            status_forcelist=[500, 502, 503, 504],
            raise_on_status=False,
        ),
    )


def _http_date(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        return utc(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return datetime.now(UTC)


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects in one S3 bucket.

    Args:
        endpoint: ``host:port`` of the S3 API (a ``http(s)://`` URL is accepted too).
        access_key: Access key; empty for anonymous access.
        secret_key: Secret key.
        bucket: Bucket name.
        secure: Use TLS (ignored when ``endpoint`` has a scheme).
        region: Bucket region; ``None`` asks the server (one extra request per bucket).
        part_size: Multipart part size in bytes (at least 5 MiB).
        parallel_uploads: Parts uploaded at once (memory use is about
            ``part_size * (parallel_uploads + 1)``).
        connect_timeout: Seconds to wait for a TCP connection.
        read_timeout: Seconds to wait for the server between bytes.
        retries: Retries of failed connections and 5xx answers (with short backoff).
        cert_check: Verify the server's TLS certificate.
        spool_dir: Folder for spooling streams before upload (default: the system temp dir).

    Raises:
        ValueError: If the endpoint, bucket name or part size is invalid.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_uploads: int = 2,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        cert_check: bool = True,
        spool_dir: Path | str | None = None,
    ) -> None:
        host, secure = normalize_endpoint(endpoint, secure)
        check_bucket_name(bucket)
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.endpoint = host
        self.bucket = bucket
        self.secure = secure
        self.region = region or None
        self._part_size = part_size
        self._parallel = max(1, parallel_uploads)
        self._spool_dir = str(spool_dir) if spool_dir is not None else None
        self._http = _pool(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            cert_check=cert_check,
        )
        # Readiness probes fail fast: short timeouts, a single retry.
        self._probe_http = _pool(
            connect_timeout=min(connect_timeout, 3.0),
            read_timeout=min(read_timeout, 5.0),
            retries=1,
            cert_check=cert_check,
        )
        self._client = self._make_client(access_key, secret_key, self._http)
        self._probe = self._make_client(access_key, secret_key, self._probe_http)

    def _make_client(self, access_key: str, secret_key: str, http: urllib3.PoolManager) -> Minio:
        return Minio(
            self.endpoint,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=self.secure,
            region=self.region,
            http_client=http,
        )

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3ArtifactStore({scheme}://{self.endpoint}/{self.bucket})"

    @property
    def client(self) -> Minio:
        """The underlying ``minio.Minio`` client (for operations outside this interface)."""
        return self._client

    def close(self) -> None:
        """Close pooled HTTP connections (the store stays usable; connections reopen)."""
        self._http.clear()
        self._probe_http.clear()

    # -- error mapping -------------------------------------------------------------------

    def _bucket_missing(self) -> StorageUnavailable:
        scheme = "https" if self.secure else "http"
        return StorageUnavailable(
            f"bucket {self.bucket!r} does not exist at {scheme}://{self.endpoint} "
            "(create it with ensure_ready / python -m tradeopt_common.storage.init)"
        )

    def _raise_mapped(self, exc: Exception, key: str | None) -> NoReturn:
        where = f"{'https' if self.secure else 'http'}://{self.endpoint}"
        if isinstance(exc, S3Error):
            if exc.code == "NoSuchKey" and key is not None:
                raise ArtifactNotFound(key) from exc
            if exc.code == "NoSuchBucket":
                raise self._bucket_missing() from exc
            if exc.code in _AUTH_CODES:
                raise StorageUnavailable(
                    f"S3 at {where} refused access to bucket {self.bucket!r}: "
                    f"{exc.code}: {exc.message}"
                ) from exc
            target = f" ({key!r})" if key else ""
            raise ArtifactError(f"S3 error{target}: {exc.code}: {exc.message}") from exc
        if isinstance(exc, MinioException):  # ServerError (5xx), InvalidResponseError
            raise StorageUnavailable(f"S3 at {where} failed: {exc}") from exc
        raise StorageUnavailable(f"S3 at {where} is unreachable: {exc}") from exc

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (MinioException, Urllib3HTTPError) as exc:
            self._raise_mapped(exc, key)

    # -- readiness -----------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the bucket if it is missing (idempotent).

        Raises:
            StorageUnavailable: If the server is unreachable or refuses to create the bucket.
        """
        with self._errors():
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket, location=self.region)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
                if not self._client.bucket_exists(self.bucket):  # someone else's bucket
                    raise StorageUnavailable(
                        f"bucket {self.bucket!r} exists but is not accessible"
                    ) from exc

    def ping(self) -> None:
        """Check that the server answers and the bucket exists (fails within seconds).

        Raises:
            StorageUnavailable: If the server is unreachable, refuses the credentials, or the
                bucket does not exist.
        """
        with self._errors():
            exists = self._probe.bucket_exists(self.bucket)
        if not exists:
            raise self._bucket_missing()

    # -- writes --------------------------------------------------------------------------

    def _upload(
        self, key: str, data: BinaryIO, size: int, sha256: str, content_type: str
    ) -> ObjectInfo:
        content_type = content_type or DEFAULT_CONTENT_TYPE
        with self._errors(key):
            try:
                self._client.put_object(
                    bucket_name=self.bucket,
                    object_name=key,
                    data=data,
                    length=size,
                    content_type=content_type,
                    metadata={SHA256_METADATA: sha256, CONTENT_TYPE_METADATA: content_type},
                    part_size=self._part_size,
                    num_parallel_uploads=self._parallel,
                )
            except OSError as exc:  # the source ended early, or could not be read
                raise ArtifactError(f"uploading {key!r} failed: {exc}") from exc
        return self.stat(key)

    def put_bytes(
        self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Upload ``data`` to ``key``. See :meth:`ArtifactStore.put_bytes`."""
        validate_key(key)
        sha256 = hashlib.sha256(data).hexdigest()
        return self._upload(key, io.BytesIO(data), len(data), sha256, content_type)

    def put_file(
        self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Upload the file ``path`` to ``key`` (hash pass, then multipart upload).

        See :meth:`ArtifactStore.put_file`.
        """
        validate_key(key)
        with open(path, "rb") as fh:
            sha256, size = copy_hashing(fh.read, _NullSink(), DEFAULT_CHUNK_SIZE)
            fh.seek(0)
            return self._upload(key, fh, size, sha256, content_type)

    def put_stream(
        self, key: str, stream: BinaryIO, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Spool ``stream`` to a temp file while hashing, then upload it.

        See :meth:`ArtifactStore.put_stream`.
        """
        validate_key(key)
        with tempfile.TemporaryFile(dir=self._spool_dir, prefix="tradeopt-spool-") as spool:
            sha256, size = copy_hashing(stream.read, spool, DEFAULT_CHUNK_SIZE)
            spool.flush()
            spool.seek(0)
            return self._upload(key, spool, size, sha256, content_type)

    # -- reads ---------------------------------------------------------------------------

    def stat(self, key: str) -> ObjectInfo:
        """Return the info of ``key`` (one HEAD request). See :meth:`ArtifactStore.stat`.

        A HEAD answer has no body, so a missing bucket looks like a missing key; on a miss the
        bucket is checked too, to raise :class:`StorageUnavailable` rather than
        :class:`ArtifactNotFound`.
        """
        validate_key(key)
        try:
            with self._errors(key):
                obj = self._client.stat_object(self.bucket, key)
        except ArtifactNotFound:
            with self._errors():
                bucket_exists = self._client.bucket_exists(self.bucket)
            if not bucket_exists:
                raise self._bucket_missing() from None
            raise
        metadata = obj.metadata or {}
        sha256 = metadata.get(SHA256_METADATA, "") or ""
        return ObjectInfo(
            key=key,
            size=int(obj.size or 0),
            sha256=str(sha256).lower(),
            content_type=(
                metadata.get(CONTENT_TYPE_METADATA) or obj.content_type or DEFAULT_CONTENT_TYPE
            ),
            last_modified=utc(obj.last_modified) if obj.last_modified else datetime.now(UTC),
        )

    def _open(self, key: str) -> tuple[urllib3.BaseHTTPResponse, ObjectInfo]:
        validate_key(key)
        with self._errors(key):
            response = self._client.get_object(self.bucket, key)
        headers = response.headers
        info = ObjectInfo(
            key=key,
            size=int(headers.get("Content-Length") or 0),
            sha256=(headers.get(SHA256_METADATA) or "").lower(),
            content_type=(
                headers.get(CONTENT_TYPE_METADATA)
                or headers.get("Content-Type")
                or DEFAULT_CONTENT_TYPE
            ),
            last_modified=_http_date(headers.get("Last-Modified")),
        )
        return response, info

    @staticmethod
    def _release(response: urllib3.BaseHTTPResponse) -> None:
        response.close()
        response.release_conn()

    def _reader(self, key: str, response: urllib3.BaseHTTPResponse) -> Callable[[int], bytes]:
        def read(size: int) -> bytes:
            with self._errors(key):
                return response.read(size)

        return read

    def get_bytes(self, key: str) -> bytes:
        """Download and verify the content of ``key``. See :meth:`ArtifactStore.get_bytes`."""
        response, info = self._open(key)
        try:
            with self._errors(key):
                data = response.read()
        finally:
            self._release(response)
        actual = hashlib.sha256(data).hexdigest()
        if len(data) != info.size or (info.sha256 and actual != info.sha256):
            raise ArtifactIntegrityError(key, info.sha256, actual)
        return data

    def iter_chunks(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkIterator:
        """Stream ``key`` over one HTTP response. See :meth:`ArtifactStore.iter_chunks`."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        response, info = self._open(key)
        return ChunkIterator(
            key,
            self._reader(key, response),
            response,
            chunk_size,
            info.sha256,
            info.size,
            on_close=response.release_conn,
        )

    def download_file(self, key: str, path: Path | str) -> ObjectInfo:
        """Stream ``key`` into ``path`` atomically, verified.

        See :meth:`ArtifactStore.download_file`.
        """
        response, info = self._open(key)
        read = self._reader(key, response)

        def write(dst: IO[bytes]) -> None:
            sha256, size = copy_hashing(read, dst, DEFAULT_CHUNK_SIZE)
            if size != info.size or (info.sha256 and sha256 != info.sha256):
                raise ArtifactIntegrityError(
                    key, info.sha256, sha256, f"{size} bytes read, {info.size} expected"
                )

        try:
            write_atomic(Path(path), write, fsync=True)
        finally:
            self._release(response)
        return info

    # -- listing and deletion ------------------------------------------------------------

    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys under ``prefix``. See :meth:`ArtifactStore.list_keys`.

        Objects whose names are not valid keys (written by other tools) are skipped.
        """
        validate_prefix(prefix)
        with self._errors():
            keys = [
                obj.object_name
                for obj in self._client.list_objects(
                    self.bucket, prefix=prefix or None, recursive=True
                )
                if obj.object_name and not obj.is_dir and is_valid_key(obj.object_name)
            ]
        keys.sort()
        return keys

    def delete(self, key: str) -> None:
        """Delete ``key`` (a missing key is fine). See :meth:`ArtifactStore.delete`."""
        validate_key(key)
        with self._errors(key):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` with batched multi-object deletes.

        See :meth:`ArtifactStore.delete_prefix`.
        """
        keys = self.list_keys(prefix)
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with self._errors():
                # remove_objects is lazy: nothing is deleted until its result is iterated.
                failures = list(
                    self._client.remove_objects(self.bucket, [DeleteObject(k) for k in batch])
                )
            missing = [f for f in failures if f.code == "NoSuchKey"]
            others = [f for f in failures if f.code != "NoSuchKey"]
            if others:
                first = others[0]
                raise ArtifactError(
                    f"deleting under {prefix!r} failed for {len(others)} object(s), "
                    f"first {first.name!r}: {first.code}: {first.message}"
                )
            deleted += len(batch) - len(missing)
        return deleted


class _NullSink:
    """A write-only sink that discards what it gets (for hashing-only passes)."""

    def write(self, data: bytes) -> int:
        return len(data)
