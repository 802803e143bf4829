"""Defect #20 (more 500s): NaN/Infinity in JSON bodies of every service, a 422 echoing a
non-finite query value, extreme dates ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z") in
features/preview (OverflowError), evaluations and bars, and plain dates on /evaluations/compare
and /evaluations/walk-forward folds.

Mirrors main's tests/services/test_client_input.py::
  test_non_json_numbers_are_a_400_on_every_service,
  test_a_float_query_nan_in_a_422_renders,
  test_instants_outside_the_bar_range_are_a_422_naming_the_field[...] (3 params).
Adapted: c20e05e has no tuning service (dropped). Each non-finite/extreme request is first
checked for "no 5xx" (the defect), then for main's exact answer.

test_d20c2, test_d20d and test_d20e are NEW (main has no test that sends a plain date
to /compare or to walk-forward folds with a real dataset and model; the hostile-input pass sends
them with unknown ids). It is written to run unchanged on both trees.
Expected on c20e05e: 500s (NaN cannot be rendered by the 422 renderer / OverflowError / naive
datetime into timestamptz).
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
WRITE_ROUTES = {
    "client": ("/api/v1/datasets", {"source": "sample", "symbol": "SPY"}),
    "training_client": ("/api/v1/runs", {"dataset_id": str(uuid.uuid4())}),
    "evaluation_client": (
        "/api/v1/evaluations",
        {"dataset_id": str(uuid.uuid4()), "baseline": "flat"},
    ),
}
SMALL_PPO = {
    "algorithm": "ppo",
    "total_timesteps": 256,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
}


def _raw(body: dict, extra: str) -> bytes:
    text = json.dumps(body)
    return (text[:-1] + ", " + extra + "}").encode()


async def test_d20a_non_json_numbers_are_a_400_on_every_service(
    client, training_client, evaluation_client
):
    clients = {
        "client": client,
        "training_client": training_client,
        "evaluation_client": evaluation_client,
    }
    for name, (path, body) in WRITE_ROUTES.items():
        for constant in ("NaN", "Infinity", "-Infinity"):
            resp = await clients[name].post(
                path,
                content=_raw(body, f'"limit": {constant}'),
                headers={"Content-Type": "application/json"},
            )
            assert resp.status_code < 500, (path, constant, resp.status_code, resp.text[:200])
            assert resp.status_code == 400, (path, resp.text)
            assert resp.headers["content-type"].startswith(PROBLEM)
            assert constant.lstrip("-") in resp.json()["detail"]


async def test_d20a2_nan_in_a_body_field_of_features_preview(client):
    """The issue's own example: ``{"limit": NaN}`` on features/preview."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    resp = await client.post(
        f"/api/v1/datasets/{spy['id']}/features/preview",
        content=b'{"limit": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code < 500, (resp.status_code, resp.text[:200])


async def test_d20b_a_float_query_nan_in_a_422_renders(client):
    resp = await client.get("/api/v1/datasets", params={"limit": "nan"})
    assert resp.status_code == 422, (resp.status_code, resp.text[:200])
    assert resp.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1600-01-01"])
async def test_d20c_instants_outside_the_bar_range_are_a_422_naming_the_field(
    client, evaluation_client, when
):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    preview = await client.post(
        f"/api/v1/datasets/{spy['id']}/features/preview", json={"start": when}
    )
    assert preview.status_code < 500, ("preview", preview.status_code, preview.text[:200])
    evaluation = await evaluation_client.post(
        "/api/v1/evaluations", json={"dataset_id": spy["id"], "baseline": "flat", "end": when}
    )
    assert evaluation.status_code < 500, ("evaluation", evaluation.status_code)
    bars = await client.get(f"/api/v1/datasets/{spy['id']}/bars", params={"end": when})
    assert bars.status_code < 500, ("bars", bars.status_code, bars.text[:200])
    # main's exact answers
    assert preview.status_code == 422, preview.text
    assert any(e["loc"][-1] == "start" for e in preview.json()["errors"])
    assert "supported range" in preview.json()["detail"]
    assert evaluation.status_code == 422, evaluation.text
    assert bars.status_code == 422, bars.text


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
async def test_d20c2_extreme_normalize_train_end_in_preview_is_no_500(client, when):
    """NEW (the OverflowError site on c20e05e is ``normalize_train_end``; ``start``/``end`` of
    preview answer 200 there, so main's preview assertion fails on c20e05e with 200 != 422).
    """
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    preview = await client.post(
        f"/api/v1/datasets/{spy['id']}/features/preview", json={"normalize_train_end": when}
    )
    assert preview.status_code < 500, (preview.status_code, preview.text[:200])


async def test_d20d_plain_dates_on_walk_forward_folds(client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    walk = await evaluation_client.post(
        "/api/v1/evaluations/walk-forward",
        json={
            "dataset_id": spy["id"],
            "run": {
                "algorithm": "a2c",
                "total_timesteps": 128,
                "hyperparams": {"n_steps": 16},
                "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
            },
            "folds": {
                "train_bars": 500,
                "test_bars": 100,
                "start": "2015-01-02",
                "end": "2020-12-31",
            },
        },
    )
    assert walk.status_code == 202, ("walk-forward", walk.status_code, walk.text[:300])


async def test_d20e_plain_dates_on_compare(client, training_client, evaluation_client):
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    run = (
        await training_client.post(
            "/api/v1/runs", json={"dataset_id": spy["id"], **SMALL_PPO, "seed": 1}
        )
    ).json()
    assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
    model = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"]
    compare = await evaluation_client.post(
        "/api/v1/evaluations/compare",
        json={
            "dataset_id": spy["id"],
            "model_ids": [model],
            "start": "2020-01-02",
            "end": "2023-09-29",
        },
    )
    assert compare.status_code == 202, ("compare", compare.status_code, compare.text[:300])
    job = await run_job(evaluation_client, compare.json()["job_id"])
    assert job["status"] == "succeeded", job
