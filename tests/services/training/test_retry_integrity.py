"""A retried training job never trusts or rewrites what an earlier attempt left in the bucket
(hardening items 7 and 18; both tests fail on c20e05e, see the issue's closing note).

* #7: attempt 1 registers the model and its worker dies; the retry must not upload the model's
  files again (the registry's checksum, size and lineage keep describing the bytes served).
* #18: attempt 1 uploads a checkpoint and dies; the checkpoint's zips are changed in the bucket;
  the retry must refuse them (digest recorded when written) and load nothing.

In-process jobs on real PostgreSQL and S3; ``SystemExit`` after the step stands for a killed
worker (the job is released back to ``queued``, as the reaper leaves a lost one).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile

import pytest

from tests.support.jobrun import ingest, run_job
from tradeopt_common.contracts.models import lineage_key, model_key
from tradeopt_training import jobs as training_jobs

pytestmark = pytest.mark.integration
SMALL = {
    "algorithm": "ppo",
    "total_timesteps": 512,
    "seed": 11,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
    "checkpoint_every": 256,
    "eval_every": None,
}
BODY = {
    "algorithm": "ppo",
    "total_timesteps": 1024,
    "seed": 5,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
    "checkpoint_every": 256,
    "eval_every": None,
}


def _swap(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("payload.txt", "not what training wrote")
    return out.getvalue()


async def _first_attempt_dies_after(
    client, training_client, monkeypatch, step: str, body: dict
) -> dict:
    """Create a run on SPY and execute its job until ``training_jobs.<step>`` has run, then kill
    the attempt (``SystemExit``); the job is back to ``queued``. Returns the run."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    created = await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **body})
    run = created.json()
    real = getattr(training_jobs, step)

    def then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise SystemExit(f"worker killed right after {step}")

    monkeypatch.setattr(training_jobs, step, then_die)
    with pytest.raises(SystemExit):
        await run_job(training_client, run["job_id"])
    monkeypatch.setattr(training_jobs, step, real)
    job = (await training_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
    assert job["status"] == "queued", job  # released: a retry will run it
    return run


async def test_a_retry_after_registration_never_rewrites_the_models_files(
    client, training_client, training_app, monkeypatch
):
    run = await _first_attempt_dies_after(client, training_client, monkeypatch, "_register", SMALL)

    store = training_app.state.tradeopt.store
    listed = (await training_client.get("/api/v1/models")).json()["items"]
    assert len(listed) == 1, listed
    model_id = uuid.UUID(listed[0]["id"])
    registered = (await training_client.get(f"/api/v1/models/{model_id}")).json()
    zip_before = store.get_bytes(model_key(model_id))
    lineage_before = store.get_bytes(lineage_key(model_id))
    assert hashlib.sha256(zip_before).hexdigest() == registered["checksum"]

    await asyncio.sleep(2.1)  # a real retry comes later; zip entries carry 2-second timestamps
    retried = await run_job(training_client, run["job_id"])
    assert retried["status"] == "succeeded", retried
    assert retried["attempts"] == 2

    zip_after = store.get_bytes(model_key(model_id))
    lineage_after = store.get_bytes(lineage_key(model_id))
    again = (await training_client.get(f"/api/v1/models/{model_id}")).json()
    assert again["checksum"] == registered["checksum"]  # the row is never rewritten
    served = hashlib.sha256(zip_after).hexdigest()
    assert served == registered["checksum"] and len(zip_after) == registered["size"], (
        f"the retry rewrote models/{model_id}/model.zip: registry says sha256 "
        f"{registered['checksum']} / {registered['size']} B, bucket serves {served} / "
        f"{len(zip_after)} B"
    )
    assert lineage_after == lineage_before, "the retry rewrote model.json"


async def test_a_checkpoint_changed_in_the_bucket_is_refused_on_resume(
    client, training_client, training_app, monkeypatch
):
    run = await _first_attempt_dies_after(
        client, training_client, monkeypatch, "upload_checkpoint", BODY
    )

    store = training_app.state.tradeopt.store
    prefix = f"runs/{run['id']}/checkpoints/"
    keys = store.list_keys(prefix)
    swapped = [k for k in keys if k.endswith(".zip")]
    assert swapped and any(k.endswith("COMPLETE") for k in keys), keys
    for key in swapped:
        store.put_bytes(key, _swap(store.get_bytes(key)), content_type="application/zip")

    job = await run_job(training_client, run["job_id"])
    assert job["status"] == "failed", (
        f"attempt {job['attempts']} resumed from a checkpoint changed in the bucket "
        f"({', '.join(k[len(prefix) :] for k in swapped)}) and ended {job['status']!r}"
    )
    assert "does not match the digest recorded" in (job["error"] or ""), job["error"]
    assert (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"] is None
