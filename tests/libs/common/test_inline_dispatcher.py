"""``InlineDispatcher`` running a parked parent whose children are created through a
collaborator (as a study's trial runs are created through the training service) and have all
ended before the parent parks, with the parent's body bound to that collaborator through
``InlineDispatcher.override`` (``tradeopt pipeline run``'s tuning study)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import pytest

from tests.conftest import REDIS_URL
from tradeopt_common.config import CommonSettings
from tradeopt_common.db.migrations import upgrade
from tradeopt_common.jobs import service as jobs
from tradeopt_common.jobs.models import Job, JobStatus
from tradeopt_common.jobs.runner import JOB_FUNCTIONS, InlineDispatcher, JobContext
from tradeopt_common.jobs.runtime import JobRuntime

pytestmark = pytest.mark.integration
POOL, CHILD = "testinline.pool", "testinline.child"


class ChildMaker:
    """Creates child jobs in its own unit of work (like another service's API): with the
    inline dispatcher each one has run to its end when :meth:`create` returns."""

    def __init__(self, rt: JobRuntime, dispatcher: InlineDispatcher) -> None:
        self.rt, self.dispatcher, self.created = rt, dispatcher, 0

    def create(self, i: int) -> uuid.UUID:
        async def _go() -> uuid.UUID:
            async with self.rt.db.unit_of_work() as s:
                job = await jobs.create_job(s, self.dispatcher, CHILD, params={"i": i})
            return job.id

        self.created += 1
        return self.rt.run(_go(), timeout=None)


def _child(ctx: JobContext) -> dict[str, Any]:
    return {"i": ctx.params["i"]}


def _pool(ctx: JobContext, maker: ChildMaker | None = None) -> dict[str, Any]:
    """Keeps one child at a time until three have run, adopting each with ``wake="any"``."""
    assert maker is not None, "the registered body has no collaborator; the override must run"
    started = list(ctx.state.get("started", []))
    if len(started) < 3:
        started.append(str(maker.create(len(started))))
        ctx.wait_for([started[-1]], state={"started": started}, wake="any")
    results = sorted(c.result["i"] for c in ctx.children() if c.status == JobStatus.SUCCEEDED)
    return {"results": results}


def test_an_overridden_parent_adopts_children_that_ended_before_it_parked(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}"
    upgrade(url)
    rt = JobRuntime(CommonSettings(db_uri=url, redis_uri=REDIS_URL))
    JOB_FUNCTIONS[POOL], JOB_FUNCTIONS[CHILD] = _pool, _child
    try:
        inline = InlineDispatcher(rt)
        maker = ChildMaker(rt, inline)
        inline.override(POOL, functools.partial(_pool, maker=maker))

        async def _create() -> Job:
            async with rt.db.unit_of_work() as s:
                return await jobs.create_job(s, inline, POOL, max_attempts=1)

        parent = rt.run(_create(), timeout=None)  # runs the whole family in-process

        async def _get(job_id: uuid.UUID) -> tuple[Job, list[jobs.ChildJob]]:
            async with rt.db.unit_of_work() as s:
                return await jobs.get_job(s, job_id), await jobs.children(s, job_id)

        job, children = rt.run(_get(parent.id))
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.result == {"results": [0, 1, 2]}
        assert maker.created == 3 and len(children) == 3  # each adopted, none started twice
        assert all(c.status == JobStatus.SUCCEEDED for c in children)
        assert job.attempts == 1  # resumed in the same claim: every child had already ended
    finally:
        JOB_FUNCTIONS.pop(POOL, None)
        JOB_FUNCTIONS.pop(CHILD, None)
        rt.close()


def test_overrides_belong_to_one_dispatcher():
    inline = InlineDispatcher(None, {"a.b": _child})
    assert inline.functions == {"a.b": _child}
    assert InlineDispatcher().functions == {}
