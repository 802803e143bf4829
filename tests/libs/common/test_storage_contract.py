"""One contract for every ArtifactStore: the same tests run on the local-folder store (unit) and
on the S3 store against a real SeaweedFS server (integration)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import socket
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradeopt_common.storage import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    InvalidArtifactKey,
    LocalArtifactStore,
    ObjectInfo,
    S3ArtifactStore,
    StorageUnavailable,
    make_store,
    validate_key,
    validate_prefix,
)

MiB = 1 << 20
TEST_PART_SIZE = 8 * MiB  # small parts so the 40 MiB object is a real multipart upload

STORE_KINDS = [
    pytest.param("local", marks=pytest.mark.unit, id="local"),
    pytest.param("s3", marks=pytest.mark.integration, id="s3"),
]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def s3_store(server, bucket: str, **kwargs) -> S3ArtifactStore:
    return S3ArtifactStore(
        server.endpoint,
        server.access_key,
        server.secret_key,
        bucket,
        region="us-east-1",
        part_size=TEST_PART_SIZE,
        **kwargs,
    )


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """A ready, empty store of each kind (S3: the session bucket, emptied after each test)."""
    if request.param == "local":
        local = LocalArtifactStore(tmp_path / "artifacts")
        local.ensure_ready()
        yield local
        return
    server = request.getfixturevalue("storage_s3_server")
    bucket = request.getfixturevalue("storage_bucket")
    remote = s3_store(server, bucket)
    remote.ensure_ready()
    assert remote.list_keys() == [], "the session bucket must be empty at test start"
    try:
        yield remote
    finally:
        remote.delete_prefix("")
        remote.close()


def corrupt(store: ArtifactStore, key: str, request: pytest.FixtureRequest) -> None:
    """Make the stored content of ``key`` disagree with its recorded sha256."""
    if isinstance(store, LocalArtifactStore):
        # Bit rot: same file, same size, same mtime, different bytes.
        path = store.root / key
        st = path.stat()
        with open(path, "r+b") as fh:
            first = fh.read(1)
            fh.seek(0)
            fh.write(bytes([first[0] ^ 0xFF]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    assert isinstance(store, S3ArtifactStore)
    data = store.get_bytes(key)
    tampered = bytes([data[0] ^ 0xFF]) + data[1:]
    store.client.put_object(
        bucket_name=store.bucket,
        object_name=key,
        data=io.BytesIO(tampered),
        length=len(tampered),
        metadata={"x-amz-meta-sha256": sha(data)},  # the old digest, now wrong
    )


class GeneratedStream(io.RawIOBase):
    """``total`` pseudo-random bytes produced on demand, hashed as they are read.

    Never holds more than one block; optionally returns short reads like a socket would.
    """

    def __init__(self, total: int, seed: int = 7, max_read: int | None = None) -> None:
        self.remaining = total
        self.digest = hashlib.sha256()
        self._rng = random.Random(seed)
        self._max_read = max_read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = MiB
        if self._max_read is not None:
            size = min(size, self._max_read)
        size = min(size, self.remaining)
        if size <= 0:
            return b""
        block = self._rng.randbytes(size)
        self.remaining -= size
        self.digest.update(block)
        return block

    def readinto(self, buffer) -> int:  # pragma: no cover - read() is what the stores use
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


def assert_recent_utc(moment: datetime) -> None:
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(0)
    now = datetime.now(UTC)
    assert now - timedelta(minutes=5) <= moment <= now + timedelta(minutes=5)


# -- round trips --------------------------------------------------------------------------


def test_put_bytes_round_trip(store: ArtifactStore) -> None:
    data = b"hello artifact\n" * 1000 + os.urandom(257)
    info = store.put_bytes("runs/r1/model.bin", data, content_type="application/x-test")

    assert isinstance(info, ObjectInfo)
    assert info.key == "runs/r1/model.bin"
    assert info.size == len(data)
    assert info.sha256 == sha(data)
    assert info.content_type == "application/x-test"
    assert_recent_utc(info.last_modified)

    assert store.get_bytes("runs/r1/model.bin") == data
    stat = store.stat("runs/r1/model.bin")
    assert (stat.key, stat.size, stat.sha256, stat.content_type) == (
        info.key,
        info.size,
        info.sha256,
        info.content_type,
    )
    assert_recent_utc(stat.last_modified)
    assert store.exists("runs/r1/model.bin")


def test_put_file_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 11)
    src = tmp_path / "bars.parquet"
    src.write_bytes(data)

    info = store.put_file("datasets/d1/bars.parquet", src, "application/vnd.apache.parquet")
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert info.content_type == "application/vnd.apache.parquet"
    assert store.get_bytes("datasets/d1/bars.parquet") == data

    info2 = store.put_file("datasets/d1/copy.parquet", str(src))  # str paths work too
    assert info2.sha256 == sha(data)


def test_put_file_missing_source(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file("x/y.bin", tmp_path / "does-not-exist")
    assert not store.exists("x/y.bin")


def test_put_stream_round_trip(store: ArtifactStore) -> None:
    data = os.urandom(2 * MiB + 5)
    info = store.put_stream("reports/r.bin", io.BytesIO(data), "application/pdf")
    assert (info.size, info.sha256, info.content_type) == (len(data), sha(data), "application/pdf")
    assert store.get_bytes("reports/r.bin") == data


def test_put_stream_short_reads(store: ArtifactStore) -> None:
    stream = GeneratedStream(100_003, max_read=4093)
    info = store.put_stream("short/reads.bin", stream)
    assert info.size == 100_003
    assert info.sha256 == stream.digest.hexdigest()
    assert store.stat("short/reads.bin").sha256 == info.sha256


def test_empty_object(store: ArtifactStore, tmp_path: Path) -> None:
    info = store.put_bytes("empty/zero.bin", b"")
    assert (info.size, info.sha256) == (0, sha(b""))
    assert store.get_bytes("empty/zero.bin") == b""
    assert list(store.iter_chunks("empty/zero.bin")) == []
    assert store.download_file("empty/zero.bin", tmp_path / "zero").size == 0
    assert (tmp_path / "zero").read_bytes() == b""


def test_default_content_type_is_kept(store: ArtifactStore) -> None:
    # Some S3 servers guess a type from the extension when given application/octet-stream.
    store.put_bytes("results/summary.json", b"{}")
    store.put_bytes("results/code.c", b"int x;", content_type="text/x-custom")
    assert store.stat("results/summary.json").content_type == "application/octet-stream"
    assert store.stat("results/code.c").content_type == "text/x-custom"
    assert [i.content_type for i in store.list("results/")] == [
        "text/x-custom",
        "application/octet-stream",
    ]


def test_large_streamed_object(store: ArtifactStore, tmp_path: Path) -> None:
    total = 40 * MiB + 12_345
    stream = GeneratedStream(total, seed=42)
    info = store.put_stream("big/blob.bin", stream, "application/octet-stream")
    expected = stream.digest.hexdigest()
    assert stream.remaining == 0
    assert (info.size, info.sha256) == (total, expected)
    assert store.stat("big/blob.bin").sha256 == expected

    # Streaming read: constant memory, chunks never larger than asked.
    digest = hashlib.sha256()
    size = 0
    largest = 0
    tracemalloc.start()
    try:
        with store.iter_chunks("big/blob.bin", chunk_size=MiB) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                largest = max(largest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (size, digest.hexdigest()) == (total, expected)
    assert 0 < largest <= MiB
    assert peak < 12 * MiB, f"iter_chunks peaked at {peak / MiB:.1f} MiB"

    target = tmp_path / "out" / "blob.bin"
    downloaded = store.download_file("big/blob.bin", target)
    assert downloaded.sha256 == expected
    assert target.stat().st_size == total
    assert file_sha(target) == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ["blob.bin"]  # no temp left

    # And back up from a file (multipart on S3).
    copy = store.put_file("big/copy.bin", target)
    assert (copy.size, copy.sha256) == (total, expected)


# -- missing keys -------------------------------------------------------------------------


def test_missing_key(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("present/a.bin", b"a")
    for op in (
        lambda: store.stat("present/missing.bin"),
        lambda: store.get_bytes("present/missing.bin"),
        lambda: store.iter_chunks("present/missing.bin"),  # raises on the call, not on next()
        lambda: store.download_file("present/missing.bin", tmp_path / "dl" / "missing.bin"),
    ):
        with pytest.raises(ArtifactNotFound) as excinfo:
            op()
        assert excinfo.value.key == "present/missing.bin"
        assert isinstance(excinfo.value, ArtifactError)
    assert not (tmp_path / "dl" / "missing.bin").exists()
    assert not store.exists("present/missing.bin")
    assert not store.exists("never/there.bin")
    with pytest.raises(ArtifactNotFound):
        store.stat("present")  # a prefix is not an object


def test_failed_download_keeps_existing_file(store: ArtifactStore, tmp_path: Path) -> None:
    out = tmp_path / "downloads"
    out.mkdir()
    target = out / "keep.bin"
    target.write_bytes(b"old")
    with pytest.raises(ArtifactNotFound):
        store.download_file("nope/x.bin", target)
    assert target.read_bytes() == b"old"
    store.put_bytes("yes/x.bin", b"new content")
    store.download_file("yes/x.bin", target)
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in out.iterdir()) == ["keep.bin"]


# -- listing ------------------------------------------------------------------------------

LIST_KEYS = [
    "runs/r1/sub/b.bin",
    "top.bin",
    "runs/r10/c.bin",
    "runs/r1/a.bin",
    "other/e.bin",
    "runs/r1-x/f.bin",
    "runs/r2/d.bin",
    "runs/r1/sub/deeper/g=1/h.bin",
]


def test_list_with_prefixes(store: ArtifactStore) -> None:
    for i, key in enumerate(LIST_KEYS):
        store.put_bytes(key, f"content {i} of {key}".encode())

    everything = list(store.list())
    assert [i.key for i in everything] == sorted(LIST_KEYS)
    for info in everything:
        expected = f"content {LIST_KEYS.index(info.key)} of {info.key}".encode()
        assert (info.size, info.sha256) == (len(expected), sha(expected))
        assert_recent_utc(info.last_modified)

    assert [i.key for i in store.list("runs/r1/")] == [
        "runs/r1/a.bin",
        "runs/r1/sub/b.bin",
        "runs/r1/sub/deeper/g=1/h.bin",
    ]
    assert [i.key for i in store.list("runs/")] == sorted(k for k in LIST_KEYS if k[:5] == "runs/")
    assert [i.key for i in store.list("runs/r1/sub/deeper/")] == ["runs/r1/sub/deeper/g=1/h.bin"]
    assert list(store.list("nothing/here/")) == []
    assert list(store.list("top.bin/")) == []
    assert store.list_keys("runs/r1/") == [i.key for i in store.list("runs/r1/")]


def test_list_only_shows_objects(store: ArtifactStore) -> None:
    store.put_bytes("a/one.bin", b"1")
    store.put_bytes("a/one.bin", b"1 again")  # overwrite
    store.put_bytes("a/two.bin", b"2")
    store.put_bytes("b/three.bin", b"3")
    store.delete("a/two.bin")
    assert store.list_keys() == ["a/one.bin", "b/three.bin"]


# -- deletion -----------------------------------------------------------------------------


def test_delete(store: ArtifactStore) -> None:
    store.put_bytes("d/x.bin", b"x")
    store.put_bytes("d/y.bin", b"y")
    store.delete("d/x.bin")
    assert not store.exists("d/x.bin")
    with pytest.raises(ArtifactNotFound):
        store.stat("d/x.bin")
    store.delete("d/x.bin")  # again: not an error
    store.delete("never/existed.bin")
    assert store.list_keys() == ["d/y.bin"]
    assert store.get_bytes("d/y.bin") == b"y"


def test_delete_prefix(store: ArtifactStore) -> None:
    for key in LIST_KEYS:
        store.put_bytes(key, key.encode())
    assert store.delete_prefix("runs/r1/") == 3
    assert store.delete_prefix("runs/r1/") == 0  # idempotent
    assert store.list_keys("runs/") == ["runs/r1-x/f.bin", "runs/r10/c.bin", "runs/r2/d.bin"]
    assert store.delete_prefix("missing/") == 0
    assert store.delete_prefix("runs/") == 3
    assert store.list_keys() == ["other/e.bin", "top.bin"]
    assert store.delete_prefix("") == 2
    assert store.list_keys() == []
    assert store.delete_prefix("") == 0


# -- overwrite ----------------------------------------------------------------------------


def test_overwrite_replaces_content_and_checksum(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.put_bytes("models/m.bin", b"version one", "application/x-v1")
    second = store.put_bytes("models/m.bin", b"the second, longer version", "application/x-v2")
    assert first.sha256 != second.sha256
    assert store.get_bytes("models/m.bin") == b"the second, longer version"
    stat = store.stat("models/m.bin")
    assert (stat.size, stat.sha256, stat.content_type) == (
        len(b"the second, longer version"),
        sha(b"the second, longer version"),
        "application/x-v2",
    )
    assert store.download_file("models/m.bin", tmp_path / "m.bin").sha256 == second.sha256
    assert store.list_keys("models/") == ["models/m.bin"]

    third = store.put_stream("models/m.bin", io.BytesIO(b"3"))
    assert store.stat("models/m.bin").sha256 == third.sha256 == sha(b"3")


# -- integrity ----------------------------------------------------------------------------


def test_corruption_is_detected(
    store: ArtifactStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = os.urandom(64 * 1024)
    store.put_bytes("c/blob.bin", data)
    corrupt(store, "c/blob.bin", request)

    out = tmp_path / "downloads"
    out.mkdir()
    target = out / "blob.bin"
    target.write_bytes(b"previous")
    with pytest.raises(ArtifactIntegrityError) as excinfo:
        store.download_file("c/blob.bin", target)
    assert isinstance(excinfo.value, ArtifactError)
    assert excinfo.value.key == "c/blob.bin"
    assert target.read_bytes() == b"previous"  # left untouched
    assert sorted(p.name for p in out.iterdir()) == ["blob.bin"]

    with pytest.raises(ArtifactIntegrityError):
        store.get_bytes("c/blob.bin")
    with pytest.raises(ArtifactIntegrityError):
        for _ in store.iter_chunks("c/blob.bin", chunk_size=4096):
            pass


def test_iter_chunks_can_stop_early(store: ArtifactStore) -> None:
    store.put_bytes("s/blob.bin", os.urandom(300_000))
    for _ in range(15):  # more than the HTTP pool size: connections must be released
        chunks = store.iter_chunks("s/blob.bin", chunk_size=1000)
        assert len(next(chunks)) == 1000
        chunks.close()
    assert store.get_bytes("s/blob.bin")[:1] is not None


# -- keys ---------------------------------------------------------------------------------

BAD_KEYS = [
    "../x",
    "/abs",
    "a//b",
    "a/../b",
    "",
    "a b",
    "a/",
    "./a",
    "a/.",
    "..",
    "a\\b",
    "tab\tkey",
    "ünïcode",
    "a~b",
    "q?x",
    "x" * 1025,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k)[:24])
def test_invalid_keys_are_refused(store: ArtifactStore, key: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"data")
    operations = [
        lambda: store.put_bytes(key, b"data"),
        lambda: store.put_file(key, src),
        lambda: store.put_stream(key, io.BytesIO(b"data")),
        lambda: store.get_bytes(key),
        lambda: store.iter_chunks(key),
        lambda: store.download_file(key, tmp_path / "out.bin"),
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ]
    for op in operations:
        with pytest.raises(InvalidArtifactKey):
            op()
    with pytest.raises(ValueError):  # InvalidArtifactKey is a ValueError too
        validate_key(key)
    assert store.list_keys() == []
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("prefix", ["a", "/a/", "../", "a//", "a/../", "/", "a b/", "x/y"])
def test_invalid_prefixes_are_refused(store: ArtifactStore, prefix: str) -> None:
    with pytest.raises(InvalidArtifactKey):
        store.list(prefix)
    with pytest.raises(InvalidArtifactKey):
        store.list_keys(prefix)
    with pytest.raises(InvalidArtifactKey):
        store.delete_prefix(prefix)


@pytest.mark.unit
@pytest.mark.parametrize(
    "key", ["a", "a/b.c", "x=1/y-2/z_3.parquet", ".hidden/v1.0", "A/B/C", "k" * 1024]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key
    assert validate_prefix(key + "/") == key + "/" if len(key) < 1024 else True


# -- readiness ----------------------------------------------------------------------------


def test_ensure_ready_is_idempotent_and_ping_works(store: ArtifactStore) -> None:
    store.put_bytes("keep/me.bin", b"still here")
    store.ensure_ready()
    store.ensure_ready()
    store.ping()
    assert store.get_bytes("keep/me.bin") == b"still here"


@pytest.mark.unit
def test_local_ping_and_ensure_ready_on_missing_folder(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "not" / "yet")
    with pytest.raises(StorageUnavailable):
        store.ping()
    store.ensure_ready()
    store.ping()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageUnavailable):
        LocalArtifactStore(tmp_path / "file").ensure_ready()


@pytest.mark.unit
def test_local_never_lists_sidecars_or_temp_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.ensure_ready()
    store.put_bytes("a/b.bin", b"x")
    (tmp_path / "a" / ".~b.bin.leftover.tmp").write_bytes(b"crashed write")
    (tmp_path / "stray file").write_bytes(b"not a key")
    assert store.list_keys() == ["a/b.bin"]
    assert [i.key for i in store.list()] == ["a/b.bin"]
    assert store.delete_prefix("") == 1
    # Emptied folders are pruned; leftovers that are not objects stay.
    assert not (tmp_path / ".~meta" / "a").exists()


@pytest.mark.unit
def test_local_heals_missing_sidecar(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put_bytes("a/b.bin", b"payload", "text/plain")
    (tmp_path / ".~meta" / "a" / "b.bin.json").unlink()
    (tmp_path / "a" / "c.bin").write_bytes(b"dropped in by hand")
    assert store.stat("a/b.bin").sha256 == sha(b"payload")
    assert store.stat("a/c.bin").sha256 == sha(b"dropped in by hand")
    assert store.get_bytes("a/c.bin") == b"dropped in by hand"


@pytest.mark.integration
def test_s3_unreachable_server_fails_fast() -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3ArtifactStore(f"127.0.0.1:{port}", "key", "secret-key", "some-bucket")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        store.ping()
    with pytest.raises(StorageUnavailable):
        store.put_bytes("a/b.bin", b"x")
    assert time.monotonic() - started < 15


@pytest.mark.integration
def test_s3_missing_bucket_is_unavailable(storage_s3_server) -> None:
    store = s3_store(storage_s3_server, "tradeopt-no-such-bucket")
    with pytest.raises(StorageUnavailable, match="tradeopt-no-such-bucket"):
        store.ping()
    with pytest.raises(StorageUnavailable, match="tradeopt-no-such-bucket"):
        store.put_bytes("a/b.bin", b"x")
    with pytest.raises(StorageUnavailable, match="tradeopt-no-such-bucket"):
        store.stat("a/b.bin")


@pytest.mark.integration
def test_s3_wrong_credentials_are_unavailable(storage_s3_server, storage_bucket: str) -> None:
    store = S3ArtifactStore(
        storage_s3_server.endpoint, storage_s3_server.access_key, "wrong-secret", storage_bucket
    )
    with pytest.raises(StorageUnavailable):
        store.ping()


@pytest.mark.unit
def test_make_store(tmp_path: Path) -> None:
    local = make_store(None, "", "", "bucket", False, None, tmp_path / "art")
    assert isinstance(local, LocalArtifactStore)
    assert local.root == tmp_path / "art"
    remote = make_store("http://127.0.0.1:9000", "k", "s", "my-bucket", True, None, tmp_path)
    assert isinstance(remote, S3ArtifactStore)
    assert (remote.endpoint, remote.secure, remote.bucket) == ("127.0.0.1:9000", False, "my-bucket")
    tls = make_store("s3.example.com", "k", "s", "my-bucket", True, "eu-west-1", tmp_path)
    assert isinstance(tls, S3ArtifactStore)
    assert (tls.endpoint, tls.secure, tls.region) == ("s3.example.com", True, "eu-west-1")
    with pytest.raises(ValueError):
        make_store("127.0.0.1:9000", "k", "s", "Bad_Bucket!", False, None, tmp_path)
