"""Intermediate reports of running jobs against real PostgreSQL: a child's report is recorded once
per step and wakes a parent parked with ``wake="any"`` and ``reports_seen`` (not one parked
without them), the park does not park when a report came in after the parent read it, a report
racing an uncommitted park still wakes the parent, and the reaper wakes such a parent when the
wake-up message was lost. (A tuning study parks on its trial runs like this to ask its pruner.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration
PARENT, CHILD = "testjobs.parent", "testjobs.child"


class RecordingDispatcher:
    """Collects what would be published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        self.sent.append((job_id, task_name, queue))

    def ids(self, task_name: str) -> list[str]:
        return [j for j, t, _ in self.sent if t == task_name]


@pytest.fixture
async def db(clean_db):
    database = Database(clean_db)
    yield database
    await database.dispose()


async def _create(db: Database, d: RecordingDispatcher, kind: str, **kw: Any) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, d, kind, **kw)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def _claim(db: Database, job_id: uuid.UUID, worker: str) -> None:
    async with db.unit_of_work() as s:
        assert await jobs.claim(s, job_id, worker) is not None


async def _report(db: Database, d, job_id: uuid.UUID, step: int, value: float) -> jobs.Touch:
    async with db.unit_of_work() as s:
        return await jobs.report(s, d, job_id, "cw", step, {"mean_reward": value})


async def _park(db: Database, parent: Job, children: list[Job], seen: dict | None):
    async with db.unit_of_work() as s:
        return await jobs.park(
            s,
            parent.id,
            "pw",
            children=[c.id for c in children],
            state={},
            wake="any",
            reports_seen=seen,
        )


async def _family(db: Database, d: RecordingDispatcher) -> tuple[Job, Job, Job]:
    parent = await _create(db, d, PARENT)
    await _claim(db, parent.id, "pw")
    a, b = [await _create(db, d, CHILD, parent_id=parent.id) for _ in range(2)]
    await _claim(db, a.id, "cw")
    await _claim(db, b.id, "cw")
    return parent, a, b


async def test_a_report_is_recorded_once_per_step_and_wakes_a_parent_parked_on_reports(db):
    d = RecordingDispatcher()
    parent, a, b = await _family(db, d)
    assert await _park(db, parent, [a, b], {a.id: 0, b.id: 0}) is jobs.ParkOutcome.PARKED
    touch = await _report(db, d, a.id, 128, 1.5)
    assert touch.owned and not touch.cancel_requested
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert "reported" in woken.message
    assert d.ids(PARENT).count(str(parent.id)) == 2  # created, then woken
    await _report(db, d, a.id, 128, 9.9)  # the same step again (a resumed run): kept as first
    await _report(db, d, a.id, 256, 2.5)
    assert (await _get(db, a.id)).reports == [
        {"step": 128, "mean_reward": 1.5},
        {"step": 256, "mean_reward": 2.5},
    ]
    assert (await _get(db, a.id)).status == JobStatus.RUNNING  # a report does not end a job


async def test_a_parent_parked_without_reports_seen_sleeps_through_reports(db):
    d = RecordingDispatcher()
    parent, a, b = await _family(db, d)
    assert await _park(db, parent, [a, b], None) is jobs.ParkOutcome.PARKED
    await _report(db, d, a.id, 128, 1.0)
    assert (await _get(db, parent.id)).status == JobStatus.WAITING
    async with db.unit_of_work() as s:
        assert await jobs.end(s, d, a.id, "cw", JobStatus.SUCCEEDED) is not None
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED  # an end still wakes it


async def test_the_park_does_not_park_when_a_child_reported_past_what_the_parent_saw(db):
    d = RecordingDispatcher()
    parent, a, b = await _family(db, d)
    await _report(db, d, b.id, 64, 0.5)  # the parent read b's reports before this one
    assert await _park(db, parent, [a, b], {a.id: 0, b.id: 0}) is jobs.ParkOutcome.RESUME
    assert (await _get(db, parent.id)).status == JobStatus.RUNNING
    # having handled it, the parent parks
    assert await _park(db, parent, [a, b], {a.id: 0, b.id: 1}) is jobs.ParkOutcome.PARKED


async def test_a_report_racing_an_uncommitted_park_still_wakes_the_parent(db):
    d = RecordingDispatcher()
    parent, a, b = await _family(db, d)
    async with db.sessionmaker() as park_tx:
        outcome = await jobs.park(
            park_tx,
            parent.id,
            "pw",
            children=[a.id, b.id],
            state={},
            wake="any",
            reports_seen={a.id: 0, b.id: 0},
        )
        assert outcome is jobs.ParkOutcome.PARKED
        reporting = asyncio.create_task(_report(db, d, a.id, 128, 1.0))
        await asyncio.sleep(0.5)
        assert not reporting.done()  # behind the park's locks
        await park_tx.commit()
        await asyncio.wait_for(reporting, 10)
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED


async def test_the_reaper_wakes_a_parent_whose_child_reported_when_the_wake_was_lost(db):
    d = RecordingDispatcher()
    parent, a, b = await _family(db, d)
    assert await _park(db, parent, [a, b], {a.id: 0, b.id: 0}) is jobs.ParkOutcome.PARKED
    async with db.unit_of_work() as s:  # a report whose parent wake-up did not happen
        await s.execute(
            jobs.update(Job).where(Job.id == a.id).values(reports=[{"step": 1, "mean_reward": 0}])
        )
    assert (await _get(db, parent.id)).status == JobStatus.WAITING
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(hours=1),
            requeue_after=timedelta(hours=1),
            in_broker=None,
            now=utcnow(),
            dispatcher=d,
        )
    assert [j.id for j in report.woken] == [parent.id]


async def test_reports_seen_needs_wake_any_and_reports_need_the_owner(db):
    d = RecordingDispatcher()
    parent, a, _ = await _family(db, d)
    with pytest.raises(ValueError, match="reports_seen needs wake='any'"):
        async with db.unit_of_work() as s:
            await jobs.park(s, parent.id, "pw", children=[a.id], state={}, reports_seen={a.id: 0})
    async with db.unit_of_work() as s:
        touch = await jobs.report(s, d, a.id, "someone-else", 1, {"mean_reward": 0.0})
    assert not touch.owned
    assert (await _get(db, a.id)).reports == []
