"""A reference and the deletion of its resource cannot interleave (issue 16 #12): whichever
transaction takes the resource's lock first wins, and the other sees its result — a deletion
sees the new referrer (409), a referrer sees the tombstone (422) — on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tradeopt_common.references import (
    ReferencedResourceDeleted,
    add_reference,
    guard_deletion,
    record_deletion,
    referrers,
)

pytestmark = pytest.mark.integration


async def _started(task: asyncio.Task, delay: float = 0.3) -> bool:
    """True when ``task`` is still blocked after ``delay`` seconds."""
    await asyncio.sleep(delay)
    return not task.done()


async def test_a_referrer_first_makes_the_deletion_see_it(pg_db):
    dataset, run = uuid.uuid4(), uuid.uuid4()
    async with pg_db.unit_of_work() as creating:
        await add_reference(creating, "dataset", dataset, "run", run)

        async def delete() -> list:
            async with pg_db.unit_of_work() as deleting:
                return await guard_deletion(deleting, "dataset", dataset)

        deleter = asyncio.create_task(delete())
        assert await _started(deleter), "the deletion must wait for the referrer's commit"
    users = await deleter
    assert [(u.type, u.id) for u in users] == [("run", run)]


async def test_a_deletion_first_refuses_the_referrer(pg_db):
    dataset, run = uuid.uuid4(), uuid.uuid4()
    async with pg_db.unit_of_work() as deleting:
        assert await guard_deletion(deleting, "dataset", dataset) == []

        async def create() -> None:
            async with pg_db.unit_of_work() as creating:
                await add_reference(creating, "dataset", dataset, "run", run)

        creator = asyncio.create_task(create())
        assert await _started(creator), "the referrer must wait for the deletion's commit"
        await record_deletion(deleting, "dataset", dataset, referrer=False)
    with pytest.raises(ReferencedResourceDeleted, match=f"dataset {dataset} was deleted"):
        await creator
    async with pg_db.unit_of_work() as session:
        assert await referrers(session, "dataset", dataset) == []


async def test_a_deleted_referrer_frees_what_it_used(pg_db):
    dataset, run = uuid.uuid4(), uuid.uuid4()
    async with pg_db.unit_of_work() as session:
        await add_reference(session, "dataset", dataset, "run", run)
    async with pg_db.unit_of_work() as session:
        assert await guard_deletion(session, "run", run) == []
        await record_deletion(session, "run", run)
    async with pg_db.unit_of_work() as session:
        assert await guard_deletion(session, "dataset", dataset) == []
