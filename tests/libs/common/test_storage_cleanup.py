"""delete_prefix_after_commit: the one way a deleted resource's objects go (datasets, runs,
models, evaluations): digests forgotten in the unit of work, objects deleted only after it
commits, nothing touched when it rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeopt_common.db.session import Database
from tradeopt_common.storage import LocalArtifactStore
from tradeopt_common.storage.cleanup import delete_prefix_after_commit
from tradeopt_common.storage.integrity import Digest, record_digests, recorded_digests

pytestmark = pytest.mark.integration
KEYS = ("runs/a/model.zip", "runs/a/logs/events.out", "runs/ab/model.zip")


async def _seed(db: Database, store: LocalArtifactStore) -> None:
    for key in KEYS:
        store.put_bytes(key, b"x")
    async with db.unit_of_work() as s:
        await record_digests(s, {key: Digest("0" * 64, 1) for key in KEYS})


async def _digests(db: Database) -> set[str]:
    async with db.unit_of_work() as s:
        return set(await recorded_digests(s, KEYS))


async def test_objects_go_after_commit_and_not_on_rollback(db: Database, tmp_path: Path):
    store = LocalArtifactStore(tmp_path / "store", fsync=False)
    await _seed(db, store)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as s:
            await delete_prefix_after_commit(s, store, "runs/a/")
            raise RuntimeError("the row's deletion failed")
    assert all(store.exists(k) for k in KEYS)
    assert await _digests(db) == set(KEYS)

    async with db.unit_of_work() as s:
        await delete_prefix_after_commit(s, store, "runs/a/")
        assert all(store.exists(k) for k in KEYS)  # not before the commit
    assert not store.exists("runs/a/model.zip") and not store.exists("runs/a/logs/events.out")
    assert store.exists("runs/ab/model.zip")  # another resource's objects stay
    assert await _digests(db) == {"runs/ab/model.zip"}
