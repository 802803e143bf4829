"""Run a queued job in this process through the real job protocol (claim, heartbeat, finish,
end hook) — for tests of an HTTP surface that need finished jobs but not a worker process."""

from __future__ import annotations

import asyncio

import httpx


async def run_job(client: httpx.AsyncClient, job_id: str) -> dict:
    """Execute job ``job_id`` now; return the job record as the API shows it.

    A job that already ended (e.g. canceled while queued) gets its resource binding applied
    instead, as a worker does when it receives the service's ``job_ended`` message.
    """
    import tradeopt_data.jobs  # noqa: F401 - registers the job bodies
    import tradeopt_evaluation.jobs  # noqa: F401
    import tradeopt_training.jobs  # noqa: F401
    import tradeopt_tuning.jobs  # noqa: F401
    from tradeopt_common.jobs.runner import JOB_FUNCTIONS, execute_job, run_end_hook

    job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    kind = job["kind"]
    if job["status"] in ("succeeded", "failed", "canceled"):
        await asyncio.to_thread(run_end_hook, job_id)
    else:
        await asyncio.to_thread(execute_job, job_id, JOB_FUNCTIONS[kind])
    return (await client.get(f"/api/v1/jobs/{job_id}")).json()


async def ingest(client: httpx.AsyncClient, body: dict) -> dict:
    """Create a dataset from a JSON request and run its ingest job; the dataset afterwards."""
    resp = await client.post("/api/v1/datasets", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    job = await run_job(client, created["job_id"])
    assert job["status"] == "succeeded", job
    return (await client.get(f"/api/v1/datasets/{created['id']}")).json()
