"""Defect #9 (issue 16): worker identity ``host:pid`` is shared by the threads of one worker;
heartbeats use the worker's clock but are judged by the reaper's clock; the image entrypoint's
default worker does not consume the ``maintenance`` queue.

Mirrors (main):
  tests/libs/common/test_jobs_service.py::
    test_a_reaped_job_claimed_again_by_a_sibling_thread_is_lost_to_the_first
    test_heartbeats_are_stamped_and_judged_by_the_database_clock
  tests/deploy/test_docker.py::test_entrypoint_roles[argv1-...] (``worker`` → ``-Q data,maintenance``)

Adapted to c20e05e: c20 has no ``jobs.database_now``; the clock test compares the stamped
heartbeat with PostgreSQL's ``now()`` directly. PostgreSQL only. The entrypoint test runs c20's
``docker/entrypoint.sh`` with stub tools. Expected on c20e05e: the two threads get the same
identity (and the first thread still owns the job its sibling re-claimed); a worker one hour
behind stamps an hour-old heartbeat and the reaper re-enqueues its live job; the default worker
is ``-Q data``.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tradeopt_common.db.base import utcnow
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus

C20 = Path(__file__).resolve().parents[2]


class RecordingDispatcher:
    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        pass


@pytest.fixture
async def db(clean_db):
    database = Database(clean_db)
    yield database
    await database.dispose()


async def _create(db: Database, **kw) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, RecordingDispatcher(), "data.ingest_bars", **kw)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


@pytest.mark.integration
async def test_a_reaped_job_claimed_again_by_a_sibling_thread_is_lost_to_the_first(db):
    from tradeopt_common.jobs.runner import worker_identity

    identities: list[str] = []
    t = threading.Thread(target=lambda: identities.append(worker_identity()))
    t.start()
    t.join()
    first, sibling = worker_identity(), identities[0]
    job = await _create(db, max_attempts=3)
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
        first_owns = (await jobs.touch(s, job.id, first)).owned
    assert first_owns is False, (
        f"thread identities {first!r} and {sibling!r}: the first thread still owns the job "
        "its sibling claimed again"
    )
    assert len({first, sibling, worker_identity()}) == 3


@pytest.mark.integration
async def test_heartbeats_are_stamped_and_judged_by_the_database_clock(db, monkeypatch):
    async with db.unit_of_work() as s:
        server = (await s.execute(text("select now()"))).scalar_one()
    job = await _create(db)
    with monkeypatch.context() as patched:  # this "worker" runs an hour behind
        patched.setattr(jobs, "utcnow", lambda: utcnow() - timedelta(hours=1))
        async with db.unit_of_work() as s:
            await jobs.claim(s, job.id, "w1")
            await jobs.touch(s, job.id, "w1")
    stamped = (await _get(db, job.id)).heartbeat_at
    async with db.unit_of_work() as s:  # the reaper's own clock is right
        report = await jobs.reap(
            s, stale_after=timedelta(seconds=30), requeue_after=timedelta(hours=1), in_broker=set()
        )
    status = (await _get(db, job.id)).status
    assert abs((stamped - server).total_seconds()) < 60, (
        f"heartbeat stamped {stamped} by the worker's clock, database clock {server}"
    )
    assert report.requeued == [] and status == JobStatus.RUNNING, (
        f"the reaper re-enqueued a live job: {status}"
    )


@pytest.mark.unit
def test_entrypoint_default_worker_consumes_maintenance(tmp_path: Path) -> None:
    for tool in ("uvicorn", "celery", "python"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho {tool} "$@"\n')
        stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "TRADEOPT_SERVICE": "data", "TRADEOPT_PORT": "8001"}
    proc = subprocess.run(
        ["sh", str(C20 / "docker" / "entrypoint.sh"), "worker"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == (
        "celery -A tradeopt_data.worker:celery_app worker -Q data,maintenance --pool=threads "
        "--concurrency=2 --loglevel=INFO"
    )
