"""Defects the fault soak (scripts/soak) found or was built to find in the job state machine,
each with its regression test on both databases:

- a running job whose cancel was requested and whose worker hands it back (``release``) used to
  go back to ``queued``, which ``claim`` always refuses: it stayed queued forever;
- a queued job left with ``cancel_requested`` (by that path) was re-published by the reaper on
  every pass, forever;
- an end notification that could not be sent (broker down) left the job's resource
  ``queued``/``running`` forever: nothing reconciled ended jobs with their resources.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.support.processes import free_port
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.dispatch import CeleryDispatcher
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration
#: A kind no service of this process binds to a resource (like the reaper in another service's
#: worker sees a training job): its end must be mirrored by the owning service.
KIND = "faultjobs.work"


class RecordingDispatcher:
    """Collects what would be published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        self.sent.append((job_id, task_name, queue))


def dead_broker_dispatcher() -> CeleryDispatcher:
    """A real Celery producer whose Redis is not there (nothing listens on the port)."""
    app = make_celery("faultjobs")
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app.conf.broker_connection_timeout = 0.5
    return CeleryDispatcher(app)


async def _create(db: Database, d, **kw) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, d, KIND, **kw)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def _reap(db: Database, d, now=None) -> jobs.ReapReport:
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(minutes=5),
            requeue_after=timedelta(seconds=1),
            in_broker=set(),
            now=now or utcnow() + timedelta(seconds=5),
            dispatcher=d,
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
        assert await jobs.release(s, job.id, "w1", "worker shut down", d)
    ended = await _get(db, job.id)
    assert ended.status == JobStatus.CANCELED, ended.message
    assert ended.finished_at is not None
    assert "released" in ended.message
    # a plain release (no cancel) still hands the job back, and only its owner can
    other = await _create(db, d)
    async with db.unit_of_work() as s:
        await jobs.claim(s, other.id, "w1")
        assert not await jobs.release(s, other.id, "w2", "not mine", d)
        assert await jobs.release(s, other.id, "w1", "worker shut down", d)
    assert (await _get(db, other.id)).status == JobStatus.QUEUED
    async with db.unit_of_work() as s:
        assert (await jobs.claim(s, other.id, "w2")) is not None


async def test_reaper_cancels_a_queued_job_whose_cancel_was_requested(db):
    d = RecordingDispatcher()
    job = await _create(db, d)
    async with db.unit_of_work() as s:  # what the old release left behind
        await s.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
        assert await jobs.claim(s, job.id, "w1") is None  # unclaimable
    report = await _reap(db, d)
    assert [j.id for j in report.canceled] == [job.id]
    assert job.id not in {j.id for j in report.republished}
    assert (await _get(db, job.id)).status == JobStatus.CANCELED
    again = await _reap(db, d, now=utcnow() + timedelta(minutes=1))
    assert job.id not in {j.id for j in [*again.canceled, *again.republished]}


async def test_a_lost_end_notification_is_sent_again_until_the_resource_follows(db):
    resource_id = uuid.uuid4()
    job = await _create(db, RecordingDispatcher(), resource_type="thing", resource_id=resource_id)
    # canceled while queued by a process that does not know the resource, broker unreachable:
    # the notification is lost (the cancel itself succeeds)
    async with db.unit_of_work() as s:
        canceled = await jobs.request_cancel(s, job.id, dead_broker_dispatcher())
    assert canceled.status == JobStatus.CANCELED
    stored = await _get(db, job.id)
    assert stored.end_pending

    d = RecordingDispatcher()
    report = await _reap(db, d)
    assert [j.id for j in report.renotified] == [job.id]
    assert (str(job.id), "faultjobs.job_ended", "faultjobs") in d.sent
    # still pending (nobody mirrored it yet): sent again on a later pass, not on every pass
    soon = await _reap(db, d, now=utcnow() + timedelta(seconds=0.5))
    assert job.id not in {j.id for j in soon.renotified}
    later = await _reap(db, d, now=utcnow() + timedelta(seconds=30))
    assert [j.id for j in later.renotified] == [job.id]


async def test_a_job_without_a_resource_is_never_pending(db):
    d = RecordingDispatcher()
    job = await _create(db, d)
    async with db.unit_of_work() as s:
        await jobs.request_cancel(s, job.id, d)
    assert not (await _get(db, job.id)).end_pending
    assert (str(job.id), "faultjobs.job_ended", "faultjobs") in d.sent


async def test_a_parked_parent_past_its_deadline_fails_and_cancels_its_children(db):
    """Issue 16 #10: a walk-forward no longer waits forever on a run that never ends — past its
    deadline the reaper fails it with the reason and cancels its children; a running job past
    its deadline is asked to stop; a job within its deadline is left alone."""
    d = RecordingDispatcher()
    parent = await _create(db, d, deadline=timedelta(seconds=30))
    patient = await _create(db, d, deadline=timedelta(hours=1))
    async with db.unit_of_work() as s:
        await jobs.claim(s, parent.id, "w1")
        child = await jobs.create_job(s, d, KIND, parent_id=parent.id)
        await jobs.park(s, parent.id, "w1", children=[child.id], state={"runs": [str(child.id)]})
    runner = await _create(db, d, deadline=timedelta(seconds=30))
    async with db.unit_of_work() as s:
        await jobs.claim(s, runner.id, "w2")
    assert (await _get(db, parent.id)).status == JobStatus.WAITING

    report = await _reap(db, d, now=utcnow() + timedelta(minutes=2))
    failed = await _get(db, parent.id)
    assert failed.status == JobStatus.FAILED and parent.id in [j.id for j in report.failed]
    assert "deadline passed" in failed.error and "child jobs were canceled" in failed.error
    assert (await _get(db, child.id)).status == JobStatus.CANCELED
    running = await _get(db, runner.id)
    assert running.status == JobStatus.RUNNING and running.cancel_requested
    assert "deadline" in running.message
    assert (await _get(db, patient.id)).status == JobStatus.QUEUED
