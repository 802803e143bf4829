"""Parked parent jobs against real PostgreSQL (and SQLite for the embedded mode): park, wake by
the last child, no lost wake-up when the last child ends while the parent parks (both orders,
with real concurrent transactions), waking on any awaited child (``wake="any"``), the reaper's
wake, the cancel cascade, duplicate delivery of a wake-up, attempts not consumed by wake-ups, and
``InlineDispatcher`` resuming a parent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, TypedDict

import pytest

from tests.conftest import REDIS_URL
from tradeopt_common.config import CommonSettings
from tradeopt_common.db.base import utcnow
from tradeopt_common.db.migrations import upgrade
from tradeopt_common.db.session import Database
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.resources import ResourceBinding
from tradeopt_common.jobs.runner import (
    JOB_FUNCTIONS,
    InlineDispatcher,
    JobContext,
    execute_job,
)
from tradeopt_common.jobs.runtime import JobRuntime

pytestmark = pytest.mark.integration
PARENT, CHILD = "testjobs.parent", "testjobs.child"


class RecordingDispatcher:
    """Collects what would be published (the broker is exercised by the worker tests)."""

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


async def _create(db: Database, d: RecordingDispatcher, kind: str = PARENT, **kw: Any) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.create_job(s, d, kind, **kw)


async def _get(db: Database, job_id: uuid.UUID) -> Job:
    async with db.unit_of_work() as s:
        return await jobs.get_job(s, job_id)


async def _claim(db: Database, job_id: uuid.UUID, worker: str) -> Job:
    async with db.unit_of_work() as s:
        job = await jobs.claim(s, job_id, worker)
    assert job is not None
    return job


async def _end(db: Database, d: RecordingDispatcher, job_id: uuid.UUID, worker: str) -> None:
    async with db.unit_of_work() as s:
        assert await jobs.end(s, d, job_id, worker, JobStatus.SUCCEEDED) is not None


async def _end_behind_park(db, d, park_tx, child_id) -> None:
    """End ``child_id`` while ``park_tx`` holds its parent's park: the end waits for the park's
    commit (then finds the parent waiting)."""
    ending = asyncio.create_task(_end(db, d, child_id, "cw"))
    await asyncio.sleep(0.5)
    assert not ending.done()  # blocked behind the park
    await park_tx.commit()
    await asyncio.wait_for(ending, 10)


async def _park(db: Database, job_id: uuid.UUID, worker: str, children: list[uuid.UUID]):
    async with db.unit_of_work() as s:
        return await jobs.park(
            s, job_id, worker, children=children, state={"step": 2}, progress=0.1, progress_to=0.9
        )


async def _family(db: Database, d: RecordingDispatcher, n: int = 2) -> tuple[Job, list[Job]]:
    parent = await _create(db, d)
    await _claim(db, parent.id, "pw")
    kids = [await _create(db, d, CHILD, parent_id=parent.id) for _ in range(n)]
    return parent, kids


async def test_park_then_the_last_child_wakes_the_parent(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    assert await _park(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.PARKED
    parked = await _get(db, parent.id)
    assert parked.status == JobStatus.WAITING
    assert parked.worker is None and parked.heartbeat_at is None  # holds no worker
    assert parked.state["step"] == 2 and parked.attempts == 1
    await _claim(db, a.id, "cw")
    await _end(db, d, a.id, "cw")
    half = await _get(db, parent.id)
    assert half.status == JobStatus.WAITING
    assert half.progress == pytest.approx(0.5)  # 0.1 → 0.9 as children end: 1 of 2
    assert d.ids(PARENT) == [str(parent.id)]  # only its creation so far
    await _claim(db, b.id, "cw")
    await _end(db, d, b.id, "cw")
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert d.ids(PARENT) == [str(parent.id)] * 2  # re-published after the commit
    again = await _claim(db, parent.id, "pw2")
    assert again.attempts == 1  # the wake-up did not consume an attempt
    assert again.state["step"] == 2


async def test_park_adopts_children_created_elsewhere_and_refuses_foreign_ones(db):
    d = RecordingDispatcher()
    parent = await _create(db, d)
    await _claim(db, parent.id, "pw")
    orphan = await _create(db, d, CHILD)  # e.g. a run another service created over HTTP
    other = await _create(db, d)
    foreign = await _create(db, d, CHILD, parent_id=other.id)
    with pytest.raises(ValueError, match="is a child of job"):
        await _park(db, parent.id, "pw", [foreign.id])
    assert await _park(db, parent.id, "pw", [orphan.id]) is jobs.ParkOutcome.PARKED
    assert (await _get(db, orphan.id)).parent_id == parent.id


async def test_parking_when_every_child_already_ended_resumes_at_once(db):
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    await _claim(db, a.id, "cw")
    await _end(db, d, a.id, "cw")  # ended while the parent was still running: no wake
    assert (await _get(db, parent.id)).status == JobStatus.RUNNING
    assert await _park(db, parent.id, "pw", [a.id]) is jobs.ParkOutcome.RESUME
    job = await _get(db, parent.id)
    assert job.status == JobStatus.RUNNING and job.worker == "pw"
    assert job.state["step"] == 2


async def test_no_lost_wakeup_when_the_child_ends_first_but_commits_during_the_park(db):
    """The child's end transaction holds the child row (and has looked at the still-running
    parent) when the parent starts parking: the park waits for that commit and then sees the
    child ended, so it resumes instead of parking forever."""
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    await _claim(db, a.id, "cw")
    async with db.sessionmaker() as child_tx:
        assert await jobs.end(child_tx, d, a.id, "cw", JobStatus.SUCCEEDED) is not None
        park = asyncio.create_task(_park(db, parent.id, "pw", [a.id]))
        await asyncio.sleep(0.5)
        assert not park.done()  # blocked on the child's row lock
        await child_tx.commit()
    assert await asyncio.wait_for(park, 10) is jobs.ParkOutcome.RESUME
    assert (await _get(db, parent.id)).status == JobStatus.RUNNING


async def test_no_lost_wakeup_when_the_child_ends_while_the_park_is_uncommitted(db):
    """The park holds the parent (now waiting, uncommitted) when the last child ends: the
    child's end waits for the park's commit, then finds the parent waiting and wakes it."""
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    await _claim(db, a.id, "cw")
    async with db.sessionmaker() as park_tx:
        outcome = await jobs.park(park_tx, parent.id, "pw", children=[a.id], state={"s": 1})
        assert outcome is jobs.ParkOutcome.PARKED
        await _end_behind_park(db, d, park_tx, a.id)
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert str(parent.id) in d.ids(PARENT)


async def test_two_last_children_ending_at_once_wake_the_parent_exactly_once(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    assert await _park(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "w1")
    await _claim(db, b.id, "w2")
    await asyncio.gather(_end(db, d, a.id, "w1"), _end(db, d, b.id, "w2"))
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert d.ids(PARENT).count(str(parent.id)) == 2  # created + one wake


async def test_the_reaper_wakes_a_parent_whose_wakeup_was_lost(db):
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    assert await _park(db, parent.id, "pw", [a.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "cw")
    async with db.unit_of_work() as s:  # the child ends but its process dies before the wake
        assert await jobs.finish(s, a.id, "cw", JobStatus.SUCCEEDED)
    later = utcnow() + timedelta(hours=1)  # a waiting job is never stale, however old
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(seconds=1),
            requeue_after=timedelta(hours=2),
            in_broker=set(),
            now=later,
            dispatcher=d,
        )
        jobs.publish_all(s, d, report)
    assert [j.id for j in report.woken] == [parent.id]
    assert report.requeued == [] and report.failed == []
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED
    assert d.sent[-1] == (str(parent.id), PARENT, "testjobs")


async def test_the_reaper_never_wakes_a_parent_with_active_children(db):
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    assert await _park(db, parent.id, "pw", [a.id]) is jobs.ParkOutcome.PARKED
    async with db.unit_of_work() as s:
        report = await jobs.reap(
            s,
            stale_after=timedelta(seconds=0),
            requeue_after=timedelta(hours=1),
            in_broker={str(a.id)},
            now=utcnow() + timedelta(hours=1),
            dispatcher=d,
        )
    assert report.woken == [] and report.requeued == []
    assert (await _get(db, parent.id)).status == JobStatus.WAITING


async def test_cancel_of_a_waiting_parent_cascades_to_its_children(db):
    d = RecordingDispatcher()
    parent, (queued, running) = await _family(db, d)
    grandchild = await _create(db, d, CHILD, parent_id=queued.id)
    await _claim(db, running.id, "cw")
    assert await _park(db, parent.id, "pw", [queued.id, running.id]) is jobs.ParkOutcome.PARKED
    async with db.unit_of_work() as s:
        canceled = await jobs.request_cancel(s, parent.id, d)
    assert canceled.status == JobStatus.CANCELED
    assert (await _get(db, queued.id)).status == JobStatus.CANCELED
    assert (await _get(db, grandchild.id)).status == JobStatus.CANCELED
    still = await _get(db, running.id)
    assert still.status == JobStatus.RUNNING and still.cancel_requested  # stops at its next check
    # children without a binding in this process: their service is told to apply its own
    assert str(queued.id) in d.ids("testjobs.job_ended")
    async with db.unit_of_work() as s:
        assert (await jobs.touch(s, running.id, "cw")).cancel_requested
        await jobs.end(s, d, running.id, "cw", JobStatus.CANCELED)
    assert (await _get(db, parent.id)).status == JobStatus.CANCELED  # never woken again


async def test_a_failed_parent_cancels_its_active_children(db):
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    async with db.unit_of_work() as s:
        await jobs.end(s, d, parent.id, "pw", JobStatus.FAILED, error="boom")
    assert (await _get(db, a.id)).status == JobStatus.CANCELED


# ---------------------------------------------------------------------------------------------
# wake="any": woken when one awaited child ends (a study keeping `parallelism` trials running)


async def _park_any(db: Database, job_id: uuid.UUID, worker: str, children: list[uuid.UUID]):
    async with db.unit_of_work() as s:
        return await jobs.park(s, job_id, worker, children=children, state={"step": 3}, wake="any")


async def test_wake_any_wakes_the_parent_when_the_first_child_ends(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    assert await _park_any(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "cw")
    await _end(db, d, a.id, "cw")
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert "1 of 2 still active" in woken.message
    assert d.ids(PARENT) == [str(parent.id)] * 2
    # b is still running; the woken parent parks on it again and b's end wakes it again
    await _claim(db, parent.id, "pw2")
    assert await _park_any(db, parent.id, "pw2", [b.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, b.id, "cw")
    await _end(db, d, b.id, "cw")
    again = await _get(db, parent.id)
    assert again.status == JobStatus.QUEUED and again.wakeups == 2


async def test_wake_any_ignores_the_end_of_a_child_it_does_not_wait_on(db):
    d = RecordingDispatcher()
    parent, (a, b, c) = await _family(db, d, 3)
    assert await _park_any(db, parent.id, "pw", [b.id, c.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "cw")
    await _end(db, d, a.id, "cw")  # a child, but not one of those awaited
    assert (await _get(db, parent.id)).status == JobStatus.WAITING
    await _claim(db, c.id, "cw")
    await _end(db, d, c.id, "cw")
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED


async def test_wake_any_does_not_park_when_an_awaited_child_already_ended(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    await _claim(db, a.id, "cw")
    await _end(db, d, a.id, "cw")
    assert await _park_any(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.RESUME
    job = await _get(db, parent.id)
    assert job.status == JobStatus.RUNNING and job.worker == "pw"
    # ...whereas wake="all" would park on the still-active b
    assert await _park(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.PARKED


async def test_wake_any_no_lost_wakeup_when_a_child_ends_while_the_park_is_uncommitted(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    await _claim(db, a.id, "cw")
    async with db.sessionmaker() as park_tx:
        outcome = await jobs.park(
            park_tx, parent.id, "pw", children=[a.id, b.id], state={}, wake="any"
        )
        assert outcome is jobs.ParkOutcome.PARKED
        await _end_behind_park(db, d, park_tx, a.id)
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED


async def test_wake_any_two_children_ending_at_once_wake_the_parent_exactly_once(db):
    d = RecordingDispatcher()
    parent, (a, b, c) = await _family(db, d, 3)
    assert await _park_any(db, parent.id, "pw", [a.id, b.id, c.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "w1")
    await _claim(db, b.id, "w2")
    await asyncio.gather(_end(db, d, a.id, "w1"), _end(db, d, b.id, "w2"))
    woken = await _get(db, parent.id)
    assert woken.status == JobStatus.QUEUED and woken.wakeups == 1
    assert d.ids(PARENT).count(str(parent.id)) == 2


async def test_the_reaper_wakes_a_wake_any_parent_whose_wakeup_was_lost(db):
    d = RecordingDispatcher()
    parent, (a, b) = await _family(db, d)
    assert await _park_any(db, parent.id, "pw", [a.id, b.id]) is jobs.ParkOutcome.PARKED
    await _claim(db, a.id, "cw")
    async with db.unit_of_work() as s:  # the child ends but its process dies before the wake
        assert await jobs.finish(s, a.id, "cw", JobStatus.SUCCEEDED)
    reap = dict(
        stale_after=timedelta(hours=2),
        requeue_after=timedelta(hours=2),
        in_broker={str(b.id)},
        now=utcnow() + timedelta(hours=1),
        dispatcher=d,
    )
    async with db.unit_of_work() as s:
        report = await jobs.reap(s, **reap)
    assert [j.id for j in report.woken] == [parent.id]  # although b is still queued
    assert (await _get(db, parent.id)).status == JobStatus.QUEUED
    await _claim(db, parent.id, "pw2")
    assert await _park_any(db, parent.id, "pw2", [b.id]) is jobs.ParkOutcome.PARKED
    async with db.unit_of_work() as s:
        report = await jobs.reap(s, **reap)
    assert report.woken == []  # b is active: nothing to wake
    assert (await _get(db, parent.id)).status == JobStatus.WAITING


async def test_park_refuses_an_unknown_wake_mode(db):
    d = RecordingDispatcher()
    parent, (a,) = await _family(db, d, 1)
    async with db.unit_of_work() as s:
        with pytest.raises(ValueError, match="wake must be"):
            await jobs.park(s, parent.id, "pw", children=[a.id], state={}, wake="some")


# ---------------------------------------------------------------------------------------------
# the runner: JobContext.start_child / wait_for / state, duplicate deliveries, attempts


CALLS: dict[str, list[int]] = {}


def _parent_body(ctx: JobContext) -> dict[str, Any]:
    """Waits for ``rounds`` rounds of two children each, one round per wake-up."""
    calls = CALLS.setdefault(str(ctx.job_id), [])
    done = int(ctx.state.get("rounds_done", 0))
    calls.append(done)
    if done < int(ctx.params.get("rounds", 1)):
        kids = [ctx.start_child(CHILD, key=f"r{done}-{i}", params={"i": i}) for i in range(2)]
        again = [ctx.start_child(CHILD, key=f"r{done}-{i}", params={"i": i}) for i in range(2)]
        assert kids == again  # keyed: a retried step finds the children it started
        ctx.wait_for(kids, state={"rounds_done": done + 1}, progress=(0.1, 0.9))
    results = sorted(c.result["i"] for c in ctx.children() if c.result)
    return {"children": len(ctx.children()), "results": results, "rounds": done}


def _child_body(ctx: JobContext) -> dict[str, Any]:
    return {"i": ctx.params["i"]}


@pytest.fixture
def runtime(clean_db):
    rt = JobRuntime(CommonSettings(db_uri=clean_db, redis_uri=REDIS_URL))
    JOB_FUNCTIONS[PARENT], JOB_FUNCTIONS[CHILD] = _parent_body, _child_body
    yield rt
    JOB_FUNCTIONS.pop(PARENT, None)
    JOB_FUNCTIONS.pop(CHILD, None)
    rt.close()


def _run_all_children(rt: JobRuntime, d: RecordingDispatcher, done: set[str]) -> None:
    for job_id in d.ids(CHILD):
        if job_id not in done:
            done.add(job_id)
            assert execute_job(job_id, _child_body, runtime=rt, dispatcher=d) == "succeeded"


def test_a_woken_parent_delivered_twice_runs_its_body_once(runtime):
    d = RecordingDispatcher()
    parent = runtime.run(_create(runtime.db, d, max_attempts=1))
    pid = str(parent.id)
    assert execute_job(pid, _parent_body, runtime=runtime, dispatcher=d) == JobStatus.WAITING
    assert runtime.run(_get(runtime.db, parent.id)).status == JobStatus.WAITING
    _run_all_children(runtime, d, set())
    assert d.ids(PARENT) == [pid, pid]  # created, then woken by the last child
    # the broker delivers the wake-up twice (redelivery after a lost ack)
    first = execute_job(pid, _parent_body, runtime=runtime, dispatcher=d)
    second = execute_job(pid, _parent_body, runtime=runtime, dispatcher=d)
    assert (first, second) == (JobStatus.SUCCEEDED, None)
    assert CALLS[pid] == [0, 1]  # step 1 once, step 2 once
    job = runtime.run(_get(runtime.db, parent.id))
    assert job.result == {"children": 2, "results": [0, 1], "rounds": 1}
    assert job.attempts == 1 and job.wakeups == 1


def test_wakeups_do_not_consume_attempts(runtime):
    d = RecordingDispatcher()
    parent = runtime.run(_create(runtime.db, d, max_attempts=1, params={"rounds": 3}))
    pid, ran = str(parent.id), set()
    for _ in range(3):
        assert execute_job(pid, _parent_body, runtime=runtime, dispatcher=d) == JobStatus.WAITING
        _run_all_children(runtime, d, ran)
    assert execute_job(pid, _parent_body, runtime=runtime, dispatcher=d) == JobStatus.SUCCEEDED
    job = runtime.run(_get(runtime.db, parent.id))
    assert job.attempts == 1 and job.max_attempts == 1 and job.wakeups == 3
    assert job.result["children"] == 6


def test_inline_dispatcher_resumes_parents_on_sqlite(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"
    upgrade(url)
    rt = JobRuntime(CommonSettings(db_uri=url, redis_uri=REDIS_URL))
    JOB_FUNCTIONS[PARENT], JOB_FUNCTIONS[CHILD] = _parent_body, _child_body
    try:
        inline = InlineDispatcher(rt)
        parent = rt.run(_create(rt.db, inline, params={"rounds": 2}))  # runs it all, in-process
        job = rt.run(_get(rt.db, parent.id))
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.result == {"children": 4, "results": [0, 0, 1, 1], "rounds": 2}
        assert CALLS[str(parent.id)] == [0, 1, 2]
    finally:
        JOB_FUNCTIONS.pop(PARENT, None)
        JOB_FUNCTIONS.pop(CHILD, None)
        rt.close()


def _pool_body(ctx: JobContext) -> dict[str, Any]:
    """Keeps at most two children running until four have run (a study's ``parallelism``)."""
    started = list(ctx.state.get("started", []))
    ended = [str(c.id) for c in ctx.children() if c.ended]
    CALLS.setdefault(str(ctx.job_id), []).append(len(ended))
    while len(started) < 4 and len(started) - len(ended) < 2:
        child = ctx.start_child(CHILD, key=f"k{len(started)}", params={"i": len(started)})
        started.append(str(child))
    active = [j for j in started if j not in ended]
    if active:
        ctx.wait_for(active, state={"started": started}, wake="any")
    return {"ended": len(ended)}


def test_wait_for_any_keeps_a_pool_of_children_running(runtime):
    d = RecordingDispatcher()
    parent = runtime.run(_create(runtime.db, d, max_attempts=1))
    pid, ran = str(parent.id), set()
    assert execute_job(pid, _pool_body, runtime=runtime, dispatcher=d) == JobStatus.WAITING
    for wake in range(1, 4):
        pending = [j for j in d.ids(CHILD) if j not in ran]
        assert len(pending) == 2  # never more than two at once
        ran.add(pending[0])
        assert execute_job(pending[0], _child_body, runtime=runtime, dispatcher=d) == "succeeded"
        assert d.ids(PARENT).count(pid) == 1 + wake  # woken by that one child's end
        assert execute_job(pid, _pool_body, runtime=runtime, dispatcher=d) == JobStatus.WAITING
    _run_all_children(runtime, d, ran)
    assert execute_job(pid, _pool_body, runtime=runtime, dispatcher=d) == JobStatus.SUCCEEDED
    job = runtime.run(_get(runtime.db, parent.id))
    assert job.result == {"ended": 4} and job.wakeups == 4 and job.attempts == 1
    assert CALLS[pid] == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------
# resource bindings are checked when declared


class _Patch(TypedDict, total=False):
    progress: float


def _binding(statuses: dict[JobStatus, str], **fields: str | None) -> ResourceBinding:
    """A binding of the job table onto itself (every declaration check applies)."""
    return ResourceBinding(
        resource_type="job", model=Job, patch=_Patch, statuses=statuses, kinds=("x.y",), **fields
    )


def test_a_binding_must_map_every_job_status_and_name_real_columns():
    statuses = {s: s.value for s in JobStatus}
    ok = _binding(statuses, status_field="status", job_id_field=None, finished_field="finished_at")
    assert ok.statuses[JobStatus.WAITING] == "waiting"
    partial = {s: v for s, v in statuses.items() if s != JobStatus.WAITING}
    with pytest.raises(ValueError, match="waiting"):
        _binding(partial, job_id_field=None)
    with pytest.raises(ValueError, match="no column"):
        _binding(statuses, job_id_field="nope")


async def test_the_typed_updater_writes_only_declared_fields(db):
    binding = ResourceBinding(
        resource_type="job",
        model=Job,
        patch=_Patch,
        statuses={s: s.value for s in JobStatus},
        kinds=("x.y",),
        job_id_field=None,
    )
    job = await _create(db, RecordingDispatcher())
    async with db.unit_of_work() as s:
        assert await binding.update(s, job.id, _Patch(progress=0.25))
        with pytest.raises(ValueError, match="no field"):
            await binding.update(s, job.id, {"status": "failed"})  # type: ignore[typeddict-item]
        assert not await binding.update(s, uuid.uuid4(), _Patch(progress=0.5))
    stored = await _get(db, job.id)
    assert stored.progress == 0.25 and stored.status == JobStatus.QUEUED  # nothing else moved
