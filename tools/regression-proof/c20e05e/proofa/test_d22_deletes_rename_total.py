"""Defect #22 (a used dataset can never be deleted: no DELETE for runs/models/evaluations; no
dataset rename; no `total` on lists), adapted from main's
* tests/services/evaluation/test_deletion_chain.py::test_dataset_run_model_evaluation_delete_in_order
  (tests.support.runs.small_ppo inlined: it does not exist on c20e05e),
* tests/services/data/test_caps_and_retries.py::test_a_dataset_can_be_renamed,
* tests/services/data/test_routes.py::test_lists_count_their_rows_when_asked.

On c20e05e: DELETE /api/v1/runs|models|evaluations/{id} are 405 (routes did not exist), so the
dataset stays 409 forever; PATCH /api/v1/datasets/{id} is 405; `GET /api/v1/datasets?total=true`
has no `total` count (the param is unknown/ignored).
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
RUN = {  # main's tests.support.runs.small_ppo(total_timesteps=256)
    "algorithm": "ppo",
    "total_timesteps": 256,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
}


def _conflict(resp, *needles: str) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    for needle in needles:
        assert needle in resp.json()["detail"], resp.json()


async def _chain(client, training_client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    run = (await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model_id = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    evaluation = (
        await evaluation_client.post(
            "/api/v1/evaluations", json={"dataset_id": spy["id"], "model_id": model_id}
        )
    ).json()
    assert (await run_job(evaluation_client, evaluation["job_id"]))["status"] == "succeeded"
    return spy, run, model_id, evaluation


async def test_d22a_runs_models_evaluations_have_delete(client, training_client, evaluation_client):
    """Each of the three deletes on a finished chain, in main's order (evaluation, model after
    archiving, run), then the dataset: every answer recorded, compared at once.
    """
    spy, run, model_id, evaluation = await _chain(client, training_client, evaluation_client)
    _conflict(await client.delete(f"/api/v1/datasets/{spy['id']}"), run["id"])
    got = {}
    got["DELETE evaluation"] = (
        await evaluation_client.delete(f"/api/v1/evaluations/{evaluation['id']}")
    ).status_code
    await training_client.patch(f"/api/v1/models/{model_id}", json={"stage": "archived"})
    got["DELETE model"] = (await training_client.delete(f"/api/v1/models/{model_id}")).status_code
    got["DELETE run"] = (await training_client.delete(f"/api/v1/runs/{run['id']}")).status_code
    got["DELETE dataset"] = (await client.delete(f"/api/v1/datasets/{spy['id']}")).status_code
    assert got == dict.fromkeys(got, 204), got


async def test_d22a_main_flow_verbatim(client, training_client, evaluation_client):
    """Main's test_dataset_run_model_evaluation_delete_in_order, unchanged after set-up."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    created = await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})
    run = created.json()
    _conflict(await training_client.delete(f"/api/v1/runs/{run['id']}"), "queued", "cancel it")


async def test_d22b_a_dataset_can_be_renamed(client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    renamed = await client.patch(f"/api/v1/datasets/{spy['id']}", json={"name": "SPY daily"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "SPY daily" and renamed.json()["checksum"] == spy["checksum"]
    assert (await client.get(f"/api/v1/datasets/{spy['id']}")).json()["name"] == "SPY daily"
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": "a\nb"}, {"rows": 3}):
        resp = await client.patch(f"/api/v1/datasets/{spy['id']}", json=body)
        assert resp.status_code == 422, (body, resp.text)
    missing = await client.patch(f"/api/v1/datasets/{uuid.uuid4()}", json={"name": "x"})
    assert missing.status_code == 404


async def test_d22c_lists_count_their_rows_when_asked(client):
    for i in range(3):
        resp = await client.post(
            "/api/v1/datasets", json={"source": "synthetic", "symbols": [f"T{i}"], "bars": 300}
        )
        assert resp.status_code == 202, resp.text
    page = await client.get("/api/v1/datasets", params={"limit": 2, "total": "true"})
    assert page.status_code == 200, page.text
    page = page.json()
    assert page.get("total") == 3 and len(page["items"]) == 2 and page["next_cursor"], page.keys()
    rest = await client.get(
        "/api/v1/datasets", params={"limit": 2, "total": "true", "cursor": page["next_cursor"]}
    )
    assert rest.json()["total"] == 3 and len(rest.json()["items"]) == 1
    queued = await client.get("/api/v1/datasets", params={"status": "queued", "total": "true"})
    assert queued.json()["total"] == 3
    ready = await client.get("/api/v1/datasets", params={"status": "ready", "total": "true"})
    assert ready.json() == {"items": [], "next_cursor": None, "total": 0}
    assert (await client.get("/api/v1/datasets")).json()["total"] is None
    jobs = await client.get("/api/v1/jobs", params={"kind": "data.ingest_bars", "total": "true"})
    assert jobs.json()["total"] == 3
    bad = await client.get("/api/v1/datasets", params={"total": "maybe"})
    assert bad.status_code == 422
