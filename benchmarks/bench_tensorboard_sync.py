"""What the ``tensorboard`` component's sync loop costs (tradeopt_training.tensorboard).

Starts the tests' S3 server (SeaweedFS), fills a bucket with ``--runs`` finished runs laid out as
the training jobs leave them (one event file of ``--event-kb`` KiB under ``runs/{id}/tb/`` and two
checkpoints of three objects each under ``runs/{id}/checkpoints/``, which the listing also walks),
then times: the first pass into an empty folder, a pass with nothing new (the steady state, every
``TRADING_OPT_TENSORBOARD_SYNC_SECONDS``), a pass after one more run finished, and a pass after one
run's event files were deleted. For each it prints the wall time, the process CPU time, the S3
requests (LIST pages of 1,000 keys, GETs) and the bytes fetched.

    .venv/bin/python benchmarks/bench_tensorboard_sync.py [--runs 500] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.s3server import S3Server
from tradeopt_common.storage.s3 import S3ArtifactStore
from tradeopt_training.tensorboard import EventFileSync, tensorboard_prefix


class CountingStore(S3ArtifactStore):
    """The real S3 store, counting the requests the sync makes."""

    listed_keys = 0
    lists = 0
    gets = 0

    def list_keys(self, prefix: str = "") -> list[str]:
        keys = super().list_keys(prefix)
        self.lists += 1
        self.listed_keys += len(keys)
        return keys

    def download_file(self, key, path):  # type: ignore[no-untyped-def]
        self.gets += 1
        return super().download_file(key, path)

    def reset(self) -> None:
        self.lists = self.listed_keys = self.gets = 0


def fill(store: S3ArtifactStore, run_id: uuid.UUID, event: bytes) -> None:
    store.put_bytes(f"{tensorboard_prefix(run_id)}events.out.tfevents.1.bench.{run_id.hex}", event)
    for step in (256, 512):
        for name in ("model.zip", "vecnormalize.pkl", "COMPLETE"):
            store.put_bytes(f"runs/{run_id}/checkpoints/{step:012d}/{name}", b"x" * 64)


def measure(label: str, sync: EventFileSync, store: CountingStore) -> None:
    store.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    stats = sync.sync_once()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pages = max(1, -(-store.listed_keys // 1000)) * store.lists
    print(
        f"{label:<28} wall {wall * 1000:8.1f} ms  cpu {cpu * 1000:7.1f} ms  "
        f"LIST pages {pages:3d} ({store.listed_keys} keys)  GET {store.gets:4d}  "
        f"fetched {stats.downloaded_bytes / 1024:8.1f} KiB  removed {stats.removed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--event-kb", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="50 runs")
    args = parser.parse_args()
    runs = 50 if args.quick else args.runs
    event = os.urandom(args.event_kb * 1024)
    with tempfile.TemporaryDirectory(prefix="bench-tb-") as tmp, S3Server(tmp) as s3:
        store = CountingStore(
            s3.endpoint, s3.access_key, s3.secret_key, "bench-tensorboard", region="us-east-1"
        )
        store.ensure_ready()
        ids = [uuid.uuid4() for _ in range(runs)]
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda r: fill(store, r, event), ids))
        print(
            f"bucket: {runs} runs x (1 event file of {args.event_kb} KiB + 6 checkpoint objects) "
            f"= {runs * 7} objects under runs/ (filled in {time.perf_counter() - start:.1f} s)"
        )
        sync = EventFileSync(store, Path(tmp) / "tensorboard")
        measure("first pass (empty folder)", sync, store)
        measure("steady state (nothing new)", sync, store)
        measure("steady state again", sync, store)
        fill(store, uuid.uuid4(), event)
        measure("one more run finished", sync, store)
        store.delete_prefix(tensorboard_prefix(ids[0]))
        measure("one run's files deleted", sync, store)


if __name__ == "__main__":
    main()
