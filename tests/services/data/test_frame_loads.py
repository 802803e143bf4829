"""Large datasets are read from storage one at a time per data API process (hardening items 1-2:
the row cap is sized to one such read beside the frame cache, tests/deploy/test_limits.py);
small ones load concurrently, and a wait for a large one finds it cached instead of reading it
again."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from tradeopt_common.storage import LocalArtifactStore
from tradeopt_data import reads
from tradeopt_ml.data import load_sample, write_bars_parquet

pytestmark = pytest.mark.unit


class _CountingStore(LocalArtifactStore):
    """Counts downloads and the most that ran at once (each held open for a moment)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.lock = threading.Lock()
        self.running = self.most = self.downloads = 0

    def download_file(self, key: str, path: Path) -> object:  # type: ignore[override]
        with self.lock:
            self.running += 1
            self.downloads += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.2)
            return super().download_file(key, path)
        finally:
            with self.lock:
                self.running -= 1


def _datasets(store: LocalArtifactStore, tmp_path: Path, n: int, rows: int) -> list[object]:
    path = tmp_path / "bars.parquet"
    write_bars_parquet(load_sample("SPY"), path)
    out = []
    for i in range(n):
        key = f"datasets/{i}/bars.parquet"
        store.put_file(key, path, content_type=reads.PARQUET)
        out.append(
            SimpleNamespace(
                id=uuid.uuid4(), checksum=str(i), rows=rows, storage_key=key, status="ready"
            )
        )
    return out


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    with reads._cache_lock:
        reads._cache.clear()
        reads._cache_sizes.clear()


def test_large_datasets_load_one_at_a_time_and_a_waiter_finds_it_cached(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path / "store")
    large = _datasets(store, tmp_path, 3, reads.LARGE_LOAD_ROWS + 1)
    requests = [large[0], large[0], large[0], large[1], large[2]]
    with ThreadPoolExecutor(len(requests)) as pool:
        frames = list(pool.map(lambda d: reads.load_frame(store, d), requests))
    assert store.most == 1
    assert store.downloads == 3  # the same dataset asked three times at once is read once
    assert frames[0] is frames[1] is frames[2]


def test_small_datasets_load_concurrently(tmp_path: Path) -> None:
    store = _CountingStore(tmp_path / "store")
    small = _datasets(store, tmp_path, 3, reads.LARGE_LOAD_ROWS)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda d: reads.load_frame(store, d), small))
    assert store.most > 1
