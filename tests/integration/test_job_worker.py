"""The job system with real worker processes, a real beat (reaper), PostgreSQL and Redis:
progress, cancel, kill -9 recovery, crash loops, and a Redis restart with jobs queued."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from scripts.soak.infra import RedisServer
from tests.support.processes import (
    KeepAlive,
    celery_beat,
    celery_worker,
    free_port,
    wait_for,
    wait_worker_ready,
)
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.dispatch import CeleryDispatcher
from tradeopt_common.jobs.models import Job, JobStatus

pytestmark = pytest.mark.integration
APP = "tests.support.jobs_app:celery_app"
QUEUES = "testjobs,maintenance"
T = TypeVar("T")


class Harness:
    """Creates jobs and reads them back from the database the workers use."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.celery = make_celery("testjobs")
        self.celery.conf.broker_url = env["TRADING_OPT_REDIS_URI"]
        self.dispatcher = CeleryDispatcher(self.celery)

    def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """``work(session)`` in one unit of work on the workers' database."""

        async def _go() -> T:
            db = Database(self.env["TRADING_OPT_DB_URI"])
            try:
                async with db.unit_of_work() as s:
                    return await work(s)
            finally:
                await db.dispose()

        return asyncio.run(_go())

    def create(self, max_attempts: int = 3, **params) -> uuid.UUID:
        async def create(s: AsyncSession) -> uuid.UUID:
            job = await jobs.create_job(
                s, self.dispatcher, "testjobs.steps", params=params, max_attempts=max_attempts
            )
            return job.id

        return self.run(create)

    def get(self, job_id: uuid.UUID) -> Job:
        return self.run(lambda s: jobs.get_job(s, job_id))

    def cancel(self, job_id: uuid.UUID) -> Job:
        return self.run(lambda s: jobs.request_cancel(s, job_id, self.dispatcher))

    def wait_status(self, job_id: uuid.UUID, status: set[str], timeout: float = 60) -> Job:
        return wait_for(
            lambda: (j := self.get(job_id)).status in status and j,
            timeout,
            0.2,
            f"job {job_id} to reach {status}",
        )


@pytest.fixture
def harness(fleet_env, tmp_path) -> Harness:
    return Harness(fleet_env, tmp_path)


def completions(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def test_job_runs_queued_to_succeeded_with_progress(
    harness, processes, fleet_env, log_dir, tmp_path
):
    worker = processes(celery_worker(APP, QUEUES, fleet_env, log_dir))
    wait_worker_ready(worker)
    marker = tmp_path / "done.txt"
    job_id = harness.create(steps=8, delay=0.25, marker=str(marker))
    seen = []

    def finished() -> bool:
        job = harness.get(job_id)
        seen.append((job.status, job.progress))
        return job.status == JobStatus.SUCCEEDED

    wait_for(finished, 60, 0.1, "job to succeed")
    assert ("queued", 0.0) in seen[:3] or seen[0][0] in ("queued", "running")
    partial = [p for s, p in seen if s == "running" and 0 < p < 1]
    assert partial, f"never saw partial progress: {seen}"
    assert partial == sorted(partial)
    job = harness.get(job_id)
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.result == {"steps": 8, "attempt": 1}
    assert job.started_at <= job.finished_at
    assert job.error is None
    assert len(completions(marker)) == 1


def test_running_and_queued_jobs_are_cancelled(harness, processes, fleet_env, log_dir, tmp_path):
    worker = processes(celery_worker(APP, QUEUES, fleet_env, log_dir))
    wait_worker_ready(worker)
    marker = tmp_path / "done.txt"
    running = harness.create(steps=200, delay=0.1, marker=str(marker))
    waiting = harness.create(steps=2, delay=0.1, marker=str(marker))  # behind it (solo pool)
    wait_for(lambda: harness.get(running).progress > 0.02, 30, 0.1, "running job to progress")
    assert harness.cancel(waiting).status == JobStatus.CANCELED  # queued: at once
    requested = harness.cancel(running)
    assert requested.status == JobStatus.RUNNING
    assert requested.cancel_requested
    job = harness.wait_status(running, {"canceled", "succeeded", "failed"}, 30)
    assert job.status == JobStatus.CANCELED
    assert job.progress < 0.5
    wait_for(lambda: "job.skipped" in worker.log(), 30, 0.2, "worker to skip the canceled job")
    assert harness.get(waiting).attempts == 0  # never ran
    assert completions(marker) == []


def _under_way(harness, processes, fleet_env, log_dir, worker, marker, steps, progress):
    """Beat and worker ``worker`` running one job of ``steps`` steps (0.25 s each, ``marker``
    records its completions) that is past ``progress``; returns the worker and the job's id.
    """
    processes(celery_beat(fleet_env, log_dir))
    running = processes(celery_worker(APP, QUEUES, fleet_env, log_dir, name=worker))
    wait_worker_ready(running)
    job_id = harness.create(steps=steps, delay=0.25, marker=str(marker))
    wait_for(lambda: harness.get(job_id).progress >= progress, 30, 0.1, "job to be under way")
    return running, job_id


def test_kill_9_mid_job_is_recovered_and_completes_exactly_once(
    harness, processes, fleet_env, log_dir, tmp_path
):
    marker = tmp_path / "done.txt"
    first, job_id = _under_way(harness, processes, fleet_env, log_dir, "first", marker, 16, 0.2)
    first.kill()  # SIGKILL the worker's whole process group mid-job
    victim = harness.get(job_id)
    assert victim.status == JobStatus.RUNNING
    assert victim.attempts == 1
    second = processes(celery_worker(APP, QUEUES, fleet_env, log_dir, name="second"))
    wait_worker_ready(second)
    job = harness.wait_status(job_id, {"succeeded", "failed"}, 90)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.worker != victim.worker
    lines = completions(marker)
    assert len(lines) == 1
    assert "attempt=2" in lines[0]
    assert "job.reaped" in second.log() or "job.reaped" in first.log()


def test_job_that_keeps_crashing_fails_after_max_attempts(
    harness, processes, fleet_env, log_dir, tmp_path
):
    processes(celery_beat(fleet_env, log_dir))
    keeper = KeepAlive(
        lambda n: celery_worker(APP, QUEUES, fleet_env, log_dir, name=f"crashy{n}"), log_dir
    ).start()
    try:
        marker = tmp_path / "done.txt"
        job_id = harness.create(max_attempts=3, steps=5, delay=0.1, crash_at=1, marker=str(marker))
        job = harness.wait_status(job_id, {"failed", "succeeded"}, 120)
    finally:
        keeper.stop()
    assert job.status == JobStatus.FAILED
    assert job.attempts == 3
    assert job.error.startswith("gave up after 3 attempts")
    assert "stopped heartbeating" in job.error
    assert keeper.starts >= 3  # the worker died on every attempt and was restarted
    assert completions(marker) == []


def test_jobs_queued_when_redis_restarts_are_not_lost(
    harness, processes, fleet_env, log_dir, tmp_path, monkeypatch
):
    redis_server = RedisServer(tmp_path, free_port())
    redis_server.start()
    try:
        env = {**fleet_env, "TRADING_OPT_REDIS_URI": redis_server.url}
        harness.env = env
        harness.celery.conf.broker_url = redis_server.url
        marker = tmp_path / "done.txt"
        ids = [harness.create(steps=2, delay=0.05, marker=str(marker)) for _ in range(3)]
        import redis

        assert redis.Redis.from_url(redis_server.url).llen("testjobs") == 3
        redis_server.restart()  # no persistence: the queued messages are gone
        assert redis.Redis.from_url(redis_server.url).llen("testjobs") == 0
        processes(celery_beat(env, log_dir))
        worker = processes(celery_worker(APP, QUEUES, env, log_dir))
        wait_worker_ready(worker)
        for job_id in ids:
            job = harness.wait_status(job_id, {"succeeded", "failed"}, 60)
            assert job.status == JobStatus.SUCCEEDED
            assert job.attempts == 1
        assert sorted(line.split()[0] for line in completions(marker)) == sorted(map(str, ids))
    finally:
        redis_server.stop()


def test_sigterm_then_grace_period_kill_never_fails_the_job(
    harness, processes, fleet_env, log_dir, tmp_path
):
    """A rolling deploy: SIGTERM (remapped to SIGQUIT) starts the soft shutdown; the pod's grace
    period ends in SIGKILL; the job is never marked failed and another worker finishes it,
    exactly once."""
    import signal
    import subprocess

    marker = tmp_path / "done.txt"
    first, job_id = _under_way(harness, processes, fleet_env, log_dir, "leaving", marker, 40, 0.05)
    first.kill(signal.SIGTERM)
    try:
        first.proc.wait(4)  # terminationGracePeriodSeconds, scaled down
    except subprocess.TimeoutExpired:
        first.kill(signal.SIGKILL)
    assert "Soft Shutdown" in first.log()
    cut = harness.get(job_id)
    assert cut.status in (JobStatus.RUNNING, JobStatus.QUEUED), (cut.status, cut.error)
    second = processes(celery_worker(APP, QUEUES, fleet_env, log_dir, name="arriving"))
    wait_worker_ready(second)
    job = harness.wait_status(job_id, {"succeeded", "failed"}, 90)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    assert len(completions(marker)) == 1


def test_short_job_finishes_inside_the_soft_shutdown_window(
    harness, processes, fleet_env, log_dir, tmp_path
):
    import signal

    first = processes(celery_worker(APP, QUEUES, fleet_env, log_dir, name="draining"))
    wait_worker_ready(first)
    marker = tmp_path / "done.txt"
    job_id = harness.create(steps=6, delay=0.2, marker=str(marker))  # ~1.2 s < 2 s window
    wait_for(lambda: harness.get(job_id).status == JobStatus.RUNNING, 30, 0.05, "job to start")
    first.kill(signal.SIGTERM)
    first.proc.wait(30)
    job = harness.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert len(completions(marker)) == 1
