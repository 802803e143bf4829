"""Defect #6 (issue 16): end-hook messages are fire-and-forget — if sending fails, the resource
never leaves ``queued``/``running``; nothing reconciles ended jobs with unfinished resources.

Mirrors (main): tests/libs/common/test_job_fault_recovery.py::
  test_a_lost_end_notification_is_sent_again_until_the_resource_follows

Adapted to c20e05e: c20 has no ``Job.end_pending`` nor ``ReapReport.renotified``, so the test
asserts the behaviour instead: after a cancel whose end notification was lost (real Celery
producer, broker port closed), a reaper pass must send ``<svc>.job_ended`` again. Expected on
c20e05e: the reaper sends nothing; the notification is lost for good.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta

import pytest

from tests.support.processes import free_port
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.dispatch import CeleryDispatcher
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration
KIND = "faultjobs.work"


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        self.sent.append((job_id, task_name, queue))


def dead_broker_dispatcher() -> CeleryDispatcher:
    app = make_celery("faultjobs")
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app.conf.broker_connection_timeout = 0.5
    return CeleryDispatcher(app)


@pytest.fixture
async def db(clean_db):
    database = Database(clean_db)
    yield database
    await database.dispose()


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def _reap(db: Database, d, now):
    extra = {"dispatcher": d} if "dispatcher" in inspect.signature(jobs.reap).parameters else {}
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(minutes=5),
            requeue_after=timedelta(seconds=1),
            in_broker=set(),
            now=now,
            **extra,
        )
        jobs.publish_all(s, d, report)
    return report


async def test_a_lost_end_notification_is_sent_again_by_the_reaper(db):
    resource_id = uuid.uuid4()
    async with db.unit_of_work() as s:
        job = await jobs.create_job(
            s, RecordingDispatcher(), KIND, resource_type="thing", resource_id=resource_id
        )
    async with db.unit_of_work() as s:
        canceled = await jobs.request_cancel(s, job.id, dead_broker_dispatcher())
    assert canceled.status == JobStatus.CANCELED
    assert (await _get(db, job.id)).status == JobStatus.CANCELED

    d = RecordingDispatcher()
    await _reap(db, d, utcnow() + timedelta(seconds=5))
    later = await _reap(db, d, utcnow() + timedelta(seconds=30))
    ended = (str(job.id), "faultjobs.job_ended", "faultjobs")
    assert ended in d.sent, (
        f"no reaper pass re-sent the lost end notification (sent: {d.sent}, report: {later})"
    )
