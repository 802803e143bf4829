"""A run's checkpoints over HTTP: ``GET /api/v1/runs/{id}/checkpoints`` (step, time, size, files,
download path) and ``GET …/checkpoints/{step}`` (a streamed tar.gz of the checkpoint's files), from
what a real training worker stored in the tests' S3 server; 404/422 problems for unknown runs and
steps."""

from __future__ import annotations

import asyncio
import io
import tarfile
import uuid
import zipfile

import pytest

from tests.support.jobrun import ingest
from tests.support.runs import small_ppo
from tradeopt_training.checkpoints import KEEP_CHECKPOINTS, checkpoint_prefix

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


async def _ended(client, run_id: str, timeout: float = 180) -> dict:
    for _ in range(int(timeout / 0.5)):
        run = (await client.get(f"/api/v1/runs/{run_id}")).json()
        if run["status"] in ("succeeded", "failed", "canceled"):
            return run
        await asyncio.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end: {run}")


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return resp.json()


async def test_checkpoints_of_a_run_trained_by_a_real_worker(
    client, training_client, training_app, start_worker, tmp_path
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    total, every = 1024, 256
    body = {
        "dataset_id": spy["id"],
        **small_ppo(seed=4),
        "total_timesteps": total,
        "checkpoint_every": every,
    }
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    url = f"/api/v1/runs/{run['id']}/checkpoints"

    # queued: none yet (an empty list, not an error)
    listed = await training_client.get(url)
    assert listed.status_code == 200 and listed.json() == []

    start_worker()
    done = await _ended(training_client, run["id"])
    assert done["status"] == "succeeded", done

    listed = await training_client.get(url)
    assert listed.status_code == 200, listed.text
    checkpoints = listed.json()
    steps = [c["step"] for c in checkpoints]
    # the newest KEEP_CHECKPOINTS are kept, ascending, on the checkpoint cadence
    assert 1 <= len(steps) <= KEEP_CHECKPOINTS and steps == sorted(steps)
    assert all(0 < s <= total and s % every == 0 for s in steps), steps
    assert steps[-1] >= total - every

    store = training_app.state.tradeopt.store
    run_uuid = uuid.UUID(run["id"])
    newest = checkpoints[-1]
    prefix = checkpoint_prefix(run_uuid, newest["step"])
    stored = {
        o.key.removeprefix(prefix): o for o in store.list(prefix) if not o.key.endswith("/COMPLETE")
    }
    assert sorted(newest["files"]) == sorted(stored) and any(f.endswith(".zip") for f in stored)
    assert newest["size_bytes"] == sum(o.size for o in stored.values()) > 0
    assert newest["download"] == f"{url}/{newest['step']}"
    assert newest["created_at"].endswith(("Z", "+00:00"))

    # the download: every file of the checkpoint, byte for byte, under <run>-<step>/
    resp = await training_client.get(newest["download"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/gzip"
    root = f"{run['id']}-{newest['step']}"
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="run-{root}-checkpoint.tar.gz"'
    )
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert sorted(members) == sorted(f"{root}/{name}" for name in stored)
    for name, info in stored.items():
        assert members[f"{root}/{name}"] == store.get_bytes(info.key)
    model_zip = next(v for k, v in members.items() if k.endswith(".zip"))
    assert zipfile.ZipFile(io.BytesIO(model_zip)).namelist()  # a readable SB3 archive

    # problems: a step that was never stored (or pruned), a bad step, an unknown run, no key
    missing = _problem(await training_client.get(f"{url}/{newest['step'] + 1}"), 404)
    assert "no complete checkpoint" in missing["detail"]
    _problem(await training_client.get(f"{url}/-1"), 422)
    _problem(await training_client.get(f"{url}/abc"), 422)
    _problem(await training_client.get(f"/api/v1/runs/{uuid.uuid4()}/checkpoints"), 404)
    _problem(await training_client.get("/api/v1/runs/not-a-uuid/checkpoints"), 422)
    _problem(await training_client.get(url, headers={"Authorization": ""}), 401)
