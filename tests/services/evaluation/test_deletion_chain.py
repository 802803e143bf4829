"""A used dataset can be deleted once what uses it is deleted (issue 16 #22): runs, models and
evaluations have DELETE, each answering 409 naming what still depends on it, and a deleted
dataset cannot be trained on afterwards (in-process jobs, real PostgreSQL and S3)."""

from __future__ import annotations

import pytest

from tests.support.jobrun import ingest, run_job
from tests.support.runs import small_ppo

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
RUN = small_ppo(total_timesteps=256)


def _conflict(resp, *needles: str) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    for needle in needles:
        assert needle in resp.json()["detail"], resp.json()


async def test_dataset_run_model_evaluation_delete_in_order(
    client, training_client, evaluation_client
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    created = await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})
    run = created.json()
    _conflict(await training_client.delete(f"/api/v1/runs/{run['id']}"), "queued", "cancel it")
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model_id = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    evaluation = (
        await evaluation_client.post(
            "/api/v1/evaluations", json={"dataset_id": spy["id"], "model_id": model_id}
        )
    ).json()
    assert (await run_job(evaluation_client, evaluation["job_id"]))["status"] == "succeeded"

    _conflict(await client.delete(f"/api/v1/datasets/{spy['id']}"), run["id"], evaluation["id"])
    _conflict(await training_client.delete(f"/api/v1/models/{model_id}"), evaluation["id"])
    _conflict(await training_client.delete(f"/api/v1/runs/{run['id']}"), model_id)

    # a production model must be archived first
    promote = await training_client.patch(
        f"/api/v1/models/{model_id}", json={"stage": "production"}
    )
    assert promote.status_code == 200, promote.text
    assert (
        await evaluation_client.delete(f"/api/v1/evaluations/{evaluation['id']}")
    ).status_code == 204
    assert (
        await evaluation_client.get(f"/api/v1/evaluations/{evaluation['id']}")
    ).status_code == 404
    _conflict(await training_client.delete(f"/api/v1/models/{model_id}"), "production")
    await training_client.patch(f"/api/v1/models/{model_id}", json={"stage": "archived"})

    assert (await training_client.delete(f"/api/v1/models/{model_id}")).status_code == 204
    assert (await training_client.get(f"/api/v1/models/{model_id}")).status_code == 404
    assert (await training_client.get(f"/api/v1/models/{model_id}/download")).status_code == 404
    assert (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"] is None
    assert (await training_client.delete(f"/api/v1/runs/{run['id']}")).status_code == 204
    assert (await training_client.get(f"/api/v1/runs/{run['id']}")).status_code == 404

    assert (await client.delete(f"/api/v1/datasets/{spy['id']}")).status_code == 204
    again = await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})
    assert again.status_code == 422 and again.headers["content-type"].startswith(PROBLEM)
    for resource in ("runs", "models"):
        gone = await training_client.delete(f"/api/v1/{resource}/{run['id']}")
        assert gone.status_code == 404
