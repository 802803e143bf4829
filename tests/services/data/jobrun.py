"""Run a queued job in this process through the real job protocol (claim, heartbeat, finish,
end hook) — for tests of the HTTP surface that need finished jobs but not a worker process."""

from __future__ import annotations

import asyncio

import httpx


async def run_job(client: httpx.AsyncClient, job_id: str) -> dict:
    """Execute job ``job_id`` now; return the job record as the API shows it."""
    import tradeopt_data.tasks  # noqa: F401 - registers the job functions
    from tradeopt_common.jobs.runner import END_HOOKS, JOB_FUNCTIONS, execute_job

    job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
    kind = job["kind"]
    await asyncio.to_thread(execute_job, job_id, JOB_FUNCTIONS[kind], on_end=END_HOOKS.get(kind))
    return (await client.get(f"/api/v1/jobs/{job_id}")).json()


async def ingest(client: httpx.AsyncClient, body: dict) -> dict:
    """Create a dataset from a JSON request and run its ingest job; the dataset afterwards."""
    resp = await client.post("/api/v1/datasets", json=body)
    assert resp.status_code == 202, resp.text
    created = resp.json()
    job = await run_job(client, created["job_id"])
    assert job["status"] == "succeeded", job
    return (await client.get(f"/api/v1/datasets/{created['id']}")).json()
