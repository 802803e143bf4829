"""Defect #12b (issue 16): a dataset can be deleted while a run referencing it is being created.

Mirrors (main): tests/libs/common/test_reference_deletion_race.py::
  test_a_referrer_first_makes_the_deletion_see_it
  test_a_deletion_first_refuses_the_referrer

Adapted to c20e05e: c20 has neither ``guard_deletion`` nor ``record_deletion`` (tombstones); its
deletion check is ``referrers()`` (what ``tradeopt_data.service.delete_dataset`` calls before
deleting) and its referrer write is ``add_reference()`` (what ``tradeopt_training.service
.create_run`` calls). The two transactions interleave on real PostgreSQL exactly as in main.
Expected on c20e05e: the deletion's check does not wait for the uncommitted referrer and sees no
referrer (so the dataset is deleted under the new run); the referrer does not wait for the
deletion and is recorded against a deleted dataset.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tradeopt_common.db.session import Database
from tradeopt_common.references import add_reference, referrers

pytestmark = pytest.mark.integration


@pytest.fixture
async def pg_db(clean_db):
    database = Database(clean_db)
    yield database
    await database.dispose()


async def _started(task: asyncio.Task, delay: float = 0.3) -> bool:
    await asyncio.sleep(delay)
    return not task.done()


async def test_a_referrer_first_makes_the_deletion_see_it(pg_db):
    dataset, run = uuid.uuid4(), uuid.uuid4()
    async with pg_db.unit_of_work() as creating:
        await add_reference(creating, "dataset", dataset, "run", run)

        async def delete() -> list:
            async with pg_db.unit_of_work() as deleting:
                return await referrers(deleting, "dataset", dataset)  # c20's deletion check

        deleter = asyncio.create_task(delete())
        waited = await _started(deleter)
    users = await deleter
    assert waited, f"the deletion did not wait for the referrer's commit; it saw {users}"
    assert [(u.type, u.id) for u in users] == [("run", run)]


async def test_a_deletion_first_refuses_the_referrer(pg_db):
    dataset, run = uuid.uuid4(), uuid.uuid4()
    async with pg_db.unit_of_work() as deleting:
        assert await referrers(deleting, "dataset", dataset) == []

        async def create() -> None:
            async with pg_db.unit_of_work() as creating:
                await add_reference(creating, "dataset", dataset, "run", run)

        creator = asyncio.create_task(create())
        waited = await _started(creator)
        # (c20 has no tombstone to record here; its delete_dataset just deletes the row)
    error = None
    try:
        await creator
    except Exception as exc:  # main: ReferencedResourceDeleted
        error = exc
    async with pg_db.unit_of_work() as session:
        left = await referrers(session, "dataset", dataset)
    assert waited, "the referrer did not wait for the deletion's commit"
    assert error is not None and left == [], (
        f"a run was recorded as using dataset {dataset} after its deletion: {left}"
    )
