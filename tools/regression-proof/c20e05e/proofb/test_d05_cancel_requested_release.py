"""Defect #5 (issue 16): a cancelled job can stay ``queued`` forever — ``release`` (and the
reaper) put a ``cancel_requested`` job back to ``queued``, which ``claim`` always refuses.

Mirrors (main): tests/libs/common/test_job_fault_recovery.py::
  test_release_of_a_job_whose_cancel_was_requested_cancels_it
  test_reaper_cancels_a_queued_job_whose_cancel_was_requested

Adapted to c20e05e: ``release`` takes no dispatcher (c20 signature), ``reap`` takes no dispatcher;
only the PostgreSQL variant of the ``db`` fixture. Expected on c20e05e: the released job is
``queued`` (not ``canceled``) and unclaimable; the reaper republishes the queued cancel-requested
job instead of cancelling it (forever, on every pass).
"""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration
KIND = "faultjobs.work"


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        self.sent.append((job_id, task_name, queue))


@pytest.fixture
async def db(clean_db):
    database = Database(clean_db)
    yield database
    await database.dispose()


def _kw(fn, d):
    return {"dispatcher": d} if "dispatcher" in inspect.signature(fn).parameters else {}


async def _create(db: Database, d) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, d, KIND)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def _release(s, job_id, worker, reason, d):
    if len(inspect.signature(jobs.release).parameters) >= 5:
        return await jobs.release(s, job_id, worker, reason, d)
    return await jobs.release(s, job_id, worker, reason)  # c20e05e signature


async def _reap(db: Database, d, now=None):
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(minutes=5),
            requeue_after=timedelta(seconds=1),
            in_broker=set(),
            now=now or utcnow() + timedelta(seconds=5),
            **_kw(jobs.reap, d),
        )
        jobs.publish_all(s, d, report)
    return report


async def test_release_of_a_job_whose_cancel_was_requested_cancels_it(db):
    d = RecordingDispatcher()
    job = await _create(db, d)
    async with db.unit_of_work() as s:
        await jobs.claim(s, job.id, "w1")
        await jobs.request_cancel(s, job.id, d)
    async with db.unit_of_work() as s:
        assert await _release(s, job.id, "w1", "worker shut down", d)
    ended = await _get(db, job.id)
    assert ended.status == JobStatus.CANCELED, (ended.status, ended.message)
    assert ended.finished_at is not None


async def test_reaper_cancels_a_queued_job_whose_cancel_was_requested(db):
    d = RecordingDispatcher()
    job = await _create(db, d)
    async with db.unit_of_work() as s:  # what the old release left behind
        await s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
        assert await jobs.claim(s, job.id, "w1") is None  # unclaimable
    report = await _reap(db, d)
    republished = [j.id for j in report.republished]
    assert job.id not in republished, "the reaper re-published an unclaimable cancelled job"
    assert [j.id for j in report.canceled] == [job.id]
    assert (await _get(db, job.id)).status == JobStatus.CANCELED
