"""Hardening item 18: objects a worker unpickles are verified against the digest recorded in
PostgreSQL when they were written (``core.artifact_digest``), not against anything the bucket
says about itself. A model archive changed in the bucket fails the evaluation with a clear error
and is never loaded; checkpoints carry recorded digests too. Real S3 server and database."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest

from tests.support.jobrun import ingest, run_job
from tests.support.runs import small_ppo
from tradeopt_common.contracts.models import model_key
from tradeopt_common.storage.integrity import (
    Digest,
    UntrustedArtifact,
    fetch_verified,
    record_digests,
    recorded_digests,
)

pytestmark = pytest.mark.integration


async def test_a_model_changed_in_the_bucket_is_refused_before_loading(
    client, training_client, evaluation_client, evaluation_app, tmp_path
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    body = small_ppo(dataset_id=spy["id"], total_timesteps=256, seed=3, checkpoint_every=128)
    run = (await training_client.post("/api/v1/runs", json=body)).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model_id = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    state = evaluation_app.state.tradeopt
    key = model_key(uuid.UUID(model_id))
    async with state.db.unit_of_work() as s:
        recorded = await recorded_digests(s, [key])
        checkpoint_keys = [
            k
            for k in state.store.list_keys(f"runs/{run['id']}/checkpoints/")
            if not k.endswith("COMPLETE")
        ]
        assert checkpoint_keys
        assert set(await recorded_digests(s, checkpoint_keys)) == set(checkpoint_keys)
    assert recorded[key].sha256 == state.store.stat(key).sha256

    evaluate = {"dataset_id": spy["id"], "model_id": model_id, "split": "test"}
    fine = (await evaluation_client.post("/api/v1/evaluations", json=evaluate)).json()
    assert (await run_job(evaluation_client, fine["job_id"]))["status"] == "succeeded"

    # Someone with write access to the bucket swaps the archive (content and the store's own
    # metadata agree with each other: only the database record can tell).
    original = state.store.get_bytes(key)
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("payload.txt", "not what training wrote")
    state.store.put_bytes(key, tampered.getvalue(), content_type="application/zip")
    refused = (await evaluation_client.post("/api/v1/evaluations", json=evaluate)).json()
    job = await run_job(evaluation_client, refused["job_id"])
    assert job["status"] == "failed"
    assert "does not match the digest recorded" in job["error"], job["error"]
    assert job["attempts"] == 1  # a clear, final error: not retried
    stored = (await evaluation_client.get(f"/api/v1/evaluations/{refused['id']}")).json()
    assert stored["status"] == "failed"


async def test_objects_without_a_record_or_changed_are_never_handed_over(evaluation_app, tmp_path):
    state = evaluation_app.state.tradeopt
    store = state.store
    store.put_bytes("integrity-test/a.bin", b"written by a worker")
    info = store.stat("integrity-test/a.bin")
    async with state.db.unit_of_work() as s:
        await record_digests(s, {"integrity-test/a.bin": Digest(info.sha256, info.size)})
    async with state.db.unit_of_work() as s:
        expected = await recorded_digests(s, ["integrity-test/a.bin", "integrity-test/b.bin"])
    assert set(expected) == {"integrity-test/a.bin"}
    path = fetch_verified(store, "integrity-test/a.bin", tmp_path / "a.bin", expected)
    assert path.read_bytes() == b"written by a worker"

    store.put_bytes("integrity-test/b.bin", b"planted")
    with pytest.raises(UntrustedArtifact, match="no digest recorded"):
        fetch_verified(store, "integrity-test/b.bin", tmp_path / "b.bin", expected)
    assert not (tmp_path / "b.bin").exists()
    store.put_bytes("integrity-test/a.bin", b"written by someone else")
    with pytest.raises(UntrustedArtifact, match="does not match"):
        fetch_verified(store, "integrity-test/a.bin", tmp_path / "a2.bin", expected)
    assert not (tmp_path / "a2.bin").exists()
