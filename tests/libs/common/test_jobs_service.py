"""The job state machine on both databases: claims are idempotent, transitions conditional,
the reaper recovers dead workers and lost messages."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.errors import JobNotFound, JobStateConflict
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration


class RecordingDispatcher:
    """Collects what would be published (the broker itself is exercised by the worker tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        self.sent.append((job_id, task_name, queue))


async def _create(db: Database, dispatcher: RecordingDispatcher, **kw) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, dispatcher, "testjobs.steps", **kw)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def test_enqueue_happens_only_after_commit(db):
    d = RecordingDispatcher()
    async with db.unit_of_work() as s:
        job = await jobs.create_job(s, d, "testjobs.steps", params={"x": 1})
        assert d.sent == []  # not before commit
    assert d.sent == [(str(job.id), "testjobs.steps", "testjobs")]
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as s:
            await jobs.create_job(s, d, "testjobs.steps")
            raise RuntimeError("boom")
    assert len(d.sent) == 1  # rolled back → never published
    stored = await _get(db, job.id)
    assert stored.status == JobStatus.QUEUED
    assert stored.params == {"x": 1}


async def test_claim_is_idempotent(db):
    job = await _create(db, RecordingDispatcher())
    async with db.unit_of_work() as s:
        claimed = await jobs.claim(s, job.id, "w1")
    assert claimed is not None
    assert claimed.status == JobStatus.RUNNING
    assert claimed.attempts == 1
    assert claimed.worker == "w1"
    assert claimed.heartbeat_at is not None
    async with db.unit_of_work() as s:
        assert await jobs.claim(s, job.id, "w2") is None  # duplicate delivery
        assert await jobs.claim(s, uuid.uuid4(), "w2") is None  # unknown id


async def test_touch_progress_and_finish_only_by_owner(db):
    job = await _create(db, RecordingDispatcher())
    async with db.unit_of_work() as s:
        await jobs.claim(s, job.id, "w1")
        t = await jobs.touch(s, job.id, "w1", progress=0.5, message="half")
        assert t.owned
        assert not t.cancel_requested
        assert not (await jobs.touch(s, job.id, "intruder")).owned
        assert not await jobs.finish(s, job.id, "intruder", JobStatus.SUCCEEDED)
        assert await jobs.finish(s, job.id, "w1", JobStatus.SUCCEEDED, result={"rows": 3})
        assert not await jobs.finish(s, job.id, "w1", JobStatus.FAILED)  # already ended
    done = await _get(db, job.id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.progress == 1.0
    assert done.result == {"rows": 3}
    assert done.finished_at is not None


async def test_cancel_queued_running_and_finished(db):
    d = RecordingDispatcher()
    queued = await _create(db, d)
    async with db.unit_of_work() as s:
        canceled = await jobs.request_cancel(s, queued.id, d)
    assert canceled.status == JobStatus.CANCELED
    # no binding is known for this kind: the owning queue is notified
    assert (str(queued.id), "testjobs.job_ended", "testjobs") in d.sent
    async with db.unit_of_work() as s:
        assert await jobs.claim(s, queued.id, "w1") is None  # a late message does nothing

    running = await _create(db, d)
    async with db.unit_of_work() as s:
        await jobs.claim(s, running.id, "w1")
        after = await jobs.request_cancel(s, running.id, d)
        assert after.status == JobStatus.RUNNING
        assert after.cancel_requested
        assert (await jobs.touch(s, running.id, "w1")).cancel_requested
        await jobs.finish(s, running.id, "w1", JobStatus.CANCELED)
    with pytest.raises(JobStateConflict):
        async with db.unit_of_work() as s:
            await jobs.request_cancel(s, running.id, d)
    with pytest.raises(JobNotFound):
        async with db.unit_of_work() as s:
            await jobs.request_cancel(s, uuid.uuid4(), d)


async def test_reaper_requeues_then_fails_after_max_attempts(db):
    d = RecordingDispatcher()
    job = await _create(db, d, max_attempts=2)
    stale, requeue = timedelta(seconds=30), timedelta(hours=1)
    for attempt in (1, 2):
        async with db.unit_of_work() as s:
            assert (await jobs.claim(s, job.id, f"w{attempt}")).attempts == attempt
        later = utcnow() + timedelta(seconds=31)
        async with db.unit_of_work() as s:
            report = await jobs.reap(
                s, stale_after=stale, requeue_after=requeue, in_broker=set(), now=later
            )
        current = await _get(db, job.id)
        if attempt == 1:
            assert [j.id for j in report.requeued] == [job.id]
            assert current.status == JobStatus.QUEUED
            assert current.worker is None
            assert "stopped heartbeating" in current.message
        else:
            assert [j.id for j in report.failed] == [job.id]
            assert current.status == JobStatus.FAILED
            assert current.error.startswith("gave up after 2 attempts")


async def test_reaper_leaves_fresh_jobs_and_cancels_pending_cancels(db):
    d = RecordingDispatcher()
    fresh, cancelling = await _create(db, d), await _create(db, d)
    async with db.unit_of_work() as s:
        await jobs.claim(s, fresh.id, "w1")
        await jobs.claim(s, cancelling.id, "w2")
        await jobs.request_cancel(s, cancelling.id, d)
    async with db.unit_of_work() as s:
        await jobs.touch(s, fresh.id, "w1")
    # Only the cancelling job's heartbeat is old: pretend w1 just beat.
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(seconds=0),
            requeue_after=timedelta(hours=1),
            in_broker=set(),
            now=utcnow() + timedelta(seconds=1),
        )
    assert {j.id for j in report.canceled} == {cancelling.id}
    assert {j.id for j in report.requeued} == {fresh.id}  # stale_after=0: both are stale
    assert (await _get(db, cancelling.id)).status == JobStatus.CANCELED


async def test_reaper_republishes_queued_jobs_missing_from_broker(db):
    d = RecordingDispatcher()
    lost, waiting = await _create(db, d), await _create(db, d)
    later = utcnow() + timedelta(minutes=5)
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(minutes=1),
            requeue_after=timedelta(minutes=1),
            in_broker={str(waiting.id)},
            now=later,
        )
        jobs.publish_all(s, d, report)
    assert [j.id for j in report.republished] == [lost.id]
    assert d.sent[-1] == (str(lost.id), "testjobs.steps", "testjobs")
    async with db.unit_of_work() as s:  # not again right away
        again = await jobs.reap(
            s,
            stale_after=timedelta(minutes=1),
            requeue_after=timedelta(minutes=1),
            in_broker=set(),
            now=later,
        )
    assert {j.id for j in again.republished} == {waiting.id}


async def test_a_reaped_job_claimed_again_by_a_sibling_thread_is_lost_to_the_first(db):
    """Hardening item 9: ``host:pid`` was shared by a worker's threads, so a thread whose job was
    reaped and claimed again by a sibling could still heartbeat and finish it."""
    import threading

    from tradeopt_common.jobs.runner import worker_identity

    identities: list[str] = []
    threads = [threading.Thread(target=lambda: identities.append(worker_identity()))]
    threads[0].start()
    threads[0].join()
    first, sibling = worker_identity(), identities[0]
    assert len({first, sibling, worker_identity()}) == 3  # per thread and per claim
    job = await _create(db, RecordingDispatcher(), max_attempts=3)
    async with db.unit_of_work() as s:
        assert await jobs.claim(s, job.id, first) is not None
    async with db.unit_of_work() as s:
        await jobs.reap(
            s,
            stale_after=timedelta(seconds=30),
            requeue_after=timedelta(hours=1),
            in_broker=set(),
            now=utcnow() + timedelta(seconds=31),
        )
    async with db.unit_of_work() as s:
        assert await jobs.claim(s, job.id, sibling) is not None
    async with db.unit_of_work() as s:
        assert (await jobs.touch(s, job.id, first)).owned is False
        assert (await jobs.touch(s, job.id, sibling)).owned is True


async def test_heartbeats_are_stamped_and_judged_by_the_database_clock(pg_db, monkeypatch):
    """Hardening item 9: a worker's clock running behind made its fresh heartbeats look stale to
    the reaper (and one running ahead hid a dead worker). On PostgreSQL both sides read the
    database's clock (the embedded SQLite runs on one machine: one clock, no such test)."""
    db = pg_db
    async with db.unit_of_work() as s:
        clock = await jobs.database_now(s)
        server = (await s.execute(text("select now()"))).scalar_one()
    assert abs((clock - server).total_seconds()) < 5
    job = await _create(db, RecordingDispatcher())
    with monkeypatch.context() as patched:  # this "worker" runs an hour behind
        patched.setattr(jobs, "utcnow", lambda: utcnow() - timedelta(hours=1))
        async with db.unit_of_work() as s:
            await jobs.claim(s, job.id, "w1")
            await jobs.touch(s, job.id, "w1")
    stamped = (await _get(db, job.id)).heartbeat_at
    assert abs((stamped - clock).total_seconds()) < 60
    async with db.unit_of_work() as s:  # the reaper's own clock is right
        report = await jobs.reap(
            s, stale_after=timedelta(seconds=30), requeue_after=timedelta(hours=1), in_broker=set()
        )
    assert report.requeued == [] and (await _get(db, job.id)).status == JobStatus.RUNNING
