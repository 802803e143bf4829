"""A worker app with controllable test jobs, run by real worker processes in integration tests.

Job params: ``steps``, ``delay`` (seconds per step), ``marker`` (file to which each *completion*
appends one line), ``crash_at`` (step at which the process dies with ``os._exit``, simulating
an OOM kill), ``crash_attempts`` (attempts that crash; default all).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.runner import JobContext, job_task

celery_app = make_celery("testjobs")


@job_task(celery_app, "testjobs.steps")
def steps(ctx: JobContext) -> dict[str, Any]:
    """Work in steps, reporting progress; maybe crash; record completion."""
    p = ctx.params
    n, delay = int(p.get("steps", 5)), float(p.get("delay", 0.1))
    crash_at, crash_attempts = p.get("crash_at"), p.get("crash_attempts")
    for i in range(n):
        time.sleep(delay)
        if crash_at == i and (crash_attempts is None or ctx.job.attempts <= crash_attempts):
            os._exit(137)
        ctx.progress((i + 1) / n, f"step {i + 1} of {n}", force=True)
    if marker := p.get("marker"):
        with Path(marker).open("a") as f:
            f.write(f"{ctx.job_id} attempt={ctx.job.attempts} worker={ctx.worker}\n")
    return {"steps": n, "attempt": ctx.job.attempts}
