"""Defect #18 (issue 16): model (and checkpoint, VecNormalize, replay-buffer) files are unpickled
from the bucket unverified: anyone who can write the bucket can run code on workers.

Mirrors (main): tests/services/evaluation/test_artifact_integrity.py::
  test_a_model_changed_in_the_bucket_is_refused_before_loading

Adapted to c20e05e: the run body is c20's evaluation-test RUN (no tests/support/runs.small_ppo);
main's checks of ``core.artifact_digest`` records (``recorded_digests``, a new table) are dropped,
the behaviour is kept: the model archive is swapped in the bucket (a valid zip with one extra
member), then an evaluation of that model must fail with a clear, final error. Expected on
c20e05e: the evaluation job loads the swapped archive and SUCCEEDS (nothing compares the bytes
with the registry's checksum). main's second test (``fetch_verified`` on an unrecorded/changed
object) is a new API with no c20 counterpart: not mirrored.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile

import pytest

from tests.support.jobrun import ingest, run_job
from tradeopt_common.contracts.models import model_key

pytestmark = pytest.mark.integration
RUN = {
    "algorithm": "ppo",
    "total_timesteps": 256,
    "seed": 3,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
    "checkpoint_every": 128,
}


async def test_a_model_changed_in_the_bucket_is_refused_before_loading(
    client, training_client, evaluation_client, evaluation_app
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    run = (await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model_id = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    registered = (await training_client.get(f"/api/v1/models/{model_id}")).json()
    state = evaluation_app.state.tradeopt
    key = model_key(uuid.UUID(model_id))

    evaluate = {"dataset_id": spy["id"], "model_id": model_id, "split": "test"}
    fine = (await evaluation_client.post("/api/v1/evaluations", json=evaluate)).json()
    assert (await run_job(evaluation_client, fine["job_id"]))["status"] == "succeeded"

    original = state.store.get_bytes(key)
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("payload.txt", "not what training wrote")
    state.store.put_bytes(key, tampered.getvalue(), content_type="application/zip")
    served = hashlib.sha256(state.store.get_bytes(key)).hexdigest()
    assert served != registered.get("checksum", served) or "checksum" not in registered

    refused = (await evaluation_client.post("/api/v1/evaluations", json=evaluate)).json()
    job = await run_job(evaluation_client, refused["job_id"])
    assert job["status"] == "failed", (
        f"the evaluation loaded an archive changed in the bucket and ended {job['status']!r} "
        f"(registry checksum {registered.get('checksum')}, bucket bytes {served})"
    )
    assert "does not match the digest recorded" in (job["error"] or ""), job["error"]
    assert job["attempts"] == 1
