"""The training service's HTTP contract with the job run in-process: run validation (422s that
name the field), a real short PPO run on the SPY sample, the registered model (lineage,
download, checksum), the registry's stages/aliases with history, cancel and list filters."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile

import pytest

from tests.support.jobrun import ingest, run_job
from tests.support.runs import small_ppo

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
SMALL = small_ppo(n_epochs=2, total_timesteps=512, seed=11, checkpoint_every=256, eval_every=256)


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    return resp.json()


async def test_invalid_runs_are_422_naming_the_field(training_client, spy):
    base = {"dataset_id": spy["id"], **SMALL}
    cases = [
        ({**base, "algorithm": "alphago"}, "algorithm"),
        ({**base, "algorithm": "dqn", "env": {"action_space": "continuous"}}, "algorithm"),
        ({**base, "algorithm": "sac", "hyperparams": {}}, "algorithm"),  # discrete default env
        ({**base, "hyperparams": {"learning_rate": -1}}, "hyperparams"),
        ({**base, "hyperparams": {"n_steps": 100, "batch_size": 64}}, "hyperparams"),
        ({**base, "hyperparams": {"warp_speed": 9}}, "hyperparams"),
        ({**base, "env": {"window": 0}}, "env"),
        ({**base, "env": {"teleport": True}}, "env"),
        ({**base, "env": {"features": {"features": ["astrology"]}}}, "features"),
        ({**base, "split": {"train": 0.9, "validation": 0.9, "test": 0.1}}, "split"),
        ({**base, "dataset_id": str(uuid.uuid4())}, "dataset_id"),
        ({**base, "n_envs": 3, "total_timesteps": 1000}, "total_timesteps"),
        ({**base, "total_timesteps": 10**9}, "total_timesteps"),
        ({**base, "symbols": ["QQQ"]}, "symbols"),
        ({**base, "extra": 1}, "extra"),
        # what the dataset cannot support (issue 16 #21): refused before anything is queued
        ({**base, "start": "2030-01-01"}, "start"),
        ({**base, "split": {"train_end": "1990-01-01"}}, "split.train_end"),
        (
            {**base, "split": {"train_end": "2021-01-01", "validation_end": "2031-01-01"}},
            "split.validation_end",
        ),
        ({**base, "start": "2015-06-01", "env": {"window": 500}}, "env.window"),
        ({**base, "env": {"episode_length": 100_000}}, "env.episode_length"),
    ]
    for body, field in cases:
        problem = _problem(await training_client.post("/api/v1/runs", json=body), 422)
        locs = [".".join(str(p) for p in e.get("loc", [])) for e in problem.get("errors") or []]
        assert any(field in loc for loc in locs) or field in problem["detail"], (body, problem)
    runs = (await training_client.get("/api/v1/runs")).json()
    assert runs["items"] == []


async def test_a_run_trains_registers_a_model_and_keeps_lineage(
    client, training_client, training_app, spy
):
    resp = await training_client.post(
        "/api/v1/runs", json={"dataset_id": spy["id"], **SMALL}, headers={"Idempotency-Key": "r1"}
    )
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert resp.headers["location"] == f"/api/v1/runs/{run['id']}"
    assert run["status"] == "queued" and run["dataset_checksum"] == spy["checksum"]
    again = await training_client.post(
        "/api/v1/runs", json={"dataset_id": spy["id"], **SMALL}, headers={"Idempotency-Key": "r1"}
    )
    assert again.json()["id"] == run["id"]
    # the dataset cannot be deleted while the run references it
    assert (await client.delete(f"/api/v1/datasets/{spy['id']}")).status_code == 409

    job = await run_job(training_client, run["job_id"])
    assert job["status"] == "succeeded", job
    done = (await training_client.get(f"/api/v1/runs/{run['id']}")).json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert done["timesteps"] == 512 and done["model_id"]
    assert [e["timesteps"] for e in done["metrics"]["eval_history"]] == [256, 512]
    assert done["metrics"]["validation"]["bars"] > 900
    assert done["live"]["steps_per_s"] > 0

    model = (await training_client.get(f"/api/v1/models/{done['model_id']}")).json()
    lineage = model["lineage"]
    assert model["run_id"] == run["id"] and model["algorithm"] == "ppo" and model["seed"] == 11
    assert lineage["dataset"] == {
        "id": spy["id"],
        "checksum": spy["checksum"],
        "symbols": spy["symbols"],
    }
    assert lineage["features_hash"] and lineage["normalizer"]["mean"]
    assert lineage["splits"]["train"]["end_time"].startswith("2015-12-31")
    assert lineage["env"]["window"] == 8 and lineage["code_version"]
    assert lineage["study"] is None and lineage["lineage_version"] == 2
    assert model["stage"] == "candidate" and len(model["history"]) == 1

    download = await training_client.get(f"/api/v1/models/{model['id']}/download")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == model["checksum"]
    assert "policy.pth" in zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    store = training_app.state.tradeopt.store
    stored = json.loads(store.get_bytes(f"models/{model['id']}/model.json"))
    assert stored["checksums"]["sha256"] == model["checksum"] and stored["run_id"] == run["id"]
    assert stored["checksums"]["size"] == model["size"] == len(download.content)
    # the one parser reads it back, and refuses drift loudly
    from pydantic import ValidationError

    from tradeopt_common.contracts.models import ModelLineage, read_lineage

    assert read_lineage(store, uuid.UUID(model["id"])) == ModelLineage.model_validate(stored)
    with pytest.raises(ValidationError):
        ModelLineage.model_validate({**stored, "surprise": 1})
    with pytest.raises(ValidationError):
        ModelLineage.model_validate({k: v for k, v in stored.items() if k != "study"})
    assert any(k.startswith(f"runs/{run['id']}/tb/") for k in store.list_keys(f"runs/{run['id']}/"))
    assert any("checkpoints" in k for k in store.list_keys(f"runs/{run['id']}/"))

    cancel = await training_client.post(f"/api/v1/runs/{run['id']}/cancel")
    assert _problem(cancel, 409)["status"] == 409


async def test_model_stages_and_aliases_keep_history(training_client, spy):
    ids = []
    for seed in (1, 2):
        body = {"dataset_id": spy["id"], **SMALL, "seed": seed, "eval_every": None}
        run = (await training_client.post("/api/v1/runs", json=body)).json()
        assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
        ids.append((await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"])
    first, second = ids
    patch = await training_client.patch(
        f"/api/v1/models/{first}", json={"stage": "production", "aliases": ["spy-live"]}
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["stage"] == "production" and patch.json()["aliases"] == ["spy-live"]
    moved = await training_client.patch(
        f"/api/v1/models/{second}", json={"aliases": ["spy-live"], "note": "better"}
    )
    assert moved.json()["aliases"] == ["spy-live"]
    old = (await training_client.get(f"/api/v1/models/{first}")).json()
    assert old["aliases"] == [] and old["stage"] == "production"
    assert [h["to_stage"] for h in old["history"]] == ["candidate", "production", "production"]
    assert "moved" in old["history"][-1]["note"]
    by_alias = (await training_client.get("/api/v1/models", params={"alias": "spy-live"})).json()
    assert [m["id"] for m in by_alias["items"]] == [second]
    prod = (await training_client.get("/api/v1/models", params={"stage": "production"})).json()
    assert [m["id"] for m in prod["items"]] == [first]
    # Hardening item 12: concurrent requests for one alias leave it on exactly one model.
    for round_ in range(8):
        alias = f"race-{round_}"
        answers = await asyncio.gather(
            *(
                training_client.patch(f"/api/v1/models/{m}", json={"aliases": [alias]})
                for m in (first, second, first, second)
            )
        )
        assert [a.status_code for a in answers] == [200] * 4
        holders = (await training_client.get("/api/v1/models", params={"alias": alias})).json()
        assert len(holders["items"]) == 1, (alias, holders["items"])
    for body in ({"stage": "gold"}, {"aliases": ["Bad Alias"]}, {}, {"colour": "red"}):
        _problem(await training_client.patch(f"/api/v1/models/{first}", json=body), 422)
    _problem(await training_client.get(f"/api/v1/models/{uuid.uuid4()}"), 404)
    _problem(await training_client.get(f"/api/v1/models/{uuid.uuid4()}/download"), 404)


async def test_cancel_a_queued_run_and_list_filters(training_client, spy):
    body = {"dataset_id": spy["id"], **SMALL}
    first = (await training_client.post("/api/v1/runs", json=body)).json()
    second = (
        await training_client.post(
            "/api/v1/runs", json={**body, "algorithm": "a2c", "hyperparams": {}}
        )
    ).json()
    canceled = await training_client.post(f"/api/v1/runs/{first['id']}/cancel")
    assert canceled.status_code == 202, canceled.text
    again = await run_job(training_client, first["job_id"])
    assert again["status"] == "canceled"
    status = (await training_client.get(f"/api/v1/runs/{first['id']}")).json()["status"]
    assert status == "canceled"
    _problem(await training_client.post(f"/api/v1/runs/{first['id']}/cancel"), 409)
    listed = (await training_client.get("/api/v1/runs", params={"algorithm": "a2c"})).json()
    assert [r["id"] for r in listed["items"]] == [second["id"]]
    listed = (await training_client.get("/api/v1/runs", params={"status": "canceled"})).json()
    assert [r["id"] for r in listed["items"]] == [first["id"]]
    listed = (await training_client.get("/api/v1/runs", params={"dataset_id": spy["id"]})).json()
    assert {r["id"] for r in listed["items"]} == {first["id"], second["id"]}
    _problem(await training_client.get("/api/v1/runs", params={"status": "dancing"}), 422)
    _problem(await training_client.get(f"/api/v1/runs/{uuid.uuid4()}"), 404)
    algorithms = (await training_client.get("/api/v1/algorithms")).json()["items"]
    assert {a["name"] for a in algorithms} == {"ppo", "a2c", "dqn", "sac", "td3"}


async def test_runs_by_status_gauge_and_checkpoint_age(training_client, training_app, spy):
    from tradeopt_training.app import update_run_gauges
    from tradeopt_training.metrics import CheckpointAge

    run = (
        await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **SMALL})
    ).json()
    await run_job(training_client, run["job_id"])
    await update_run_gauges(training_app.state.tradeopt)
    text = (await training_client.get("/metrics")).text
    assert 'tradeopt_training_runs{status="succeeded"} 1.0' in text
    assert 'tradeopt_training_runs{status="running"} 0.0' in text

    age = CheckpointAge()
    age.touch("r1")
    (family,) = age.collect()
    assert [(s.labels["run_id"], s.value >= 0) for s in family.samples] == [("r1", True)]
    age.forget("r1")
    (family,) = age.collect()
    assert family.samples == []
