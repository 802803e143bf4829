"""Defect #7 (issue 16): a retried training job overwrites a registered model's files
(``trainjob.py`` uploads before checking the row): the registry's checksum/size/lineage no longer
describe the bytes served.

Main-side test: NONE found. The fix (``service.find_model`` checked before any upload, in
tradeopt_training.jobs._register) came in merge d14b9e2 without a test; the nearest main test,
tests/services/training/test_training_worker.py::
test_killed_worker_resumes_from_its_checkpoint_and_finishes_once, only counts model ROWS (== 1),
which c20e05e already satisfies (its insert returns the existing row), and the worker there is
killed before registration anyway. This is the smallest test that shows the defect; the same test
for main is proposed in proposed_main_test_d07.py.

Scenario (in-process, real PostgreSQL + S3): attempt 1 trains and registers the model, then its
worker dies (SystemExit right after ``_register``: the job is released back to ``queued``, as a
worker shutting down or the reaper after a lost heartbeat would leave it). Attempt 2 runs the same
job. Expected: the stored ``model.zip`` still has the registry's checksum/size and ``model.json``
is unchanged. Expected on c20e05e: attempt 2 re-uploads ``model.zip`` and ``model.json``; the
bucket's bytes no longer match the registry's checksum.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import uuid

import pytest

from tests.support.jobrun import ingest, run_job
from tradeopt_common.contracts.models import lineage_key, model_key

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


def _job_module():
    for name in ("tradeopt_training.trainjob", "tradeopt_training.jobs"):  # c20e05e, main
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "_register"):
            return module
    raise AssertionError("no training job module with _register")


async def test_a_retry_after_registration_never_rewrites_the_models_files(
    client, training_client, training_app, monkeypatch
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    run = (
        await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **SMALL})
    ).json()
    module = _job_module()
    real_register = module._register

    def register_then_die(*args, **kwargs):
        real_register(*args, **kwargs)
        raise SystemExit("worker killed right after registering the model")

    monkeypatch.setattr(module, "_register", register_then_die)
    with pytest.raises(SystemExit):
        await run_job(training_client, run["job_id"])
    monkeypatch.setattr(module, "_register", real_register)
    job = (await training_client.get(f"/api/v1/jobs/{run['job_id']}")).json()
    assert job["status"] == "queued", job  # released: a retry will run it

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
