"""Defect #1 (OOM caps: dataset_max_rows unused, synthetic size caps) and #8 (staged upload
deleted before the ingest job commits), adapted from main's
tests/services/data/test_caps_and_retries.py::test_more_rows_than_the_cap_is_a_422_before_any_work
and ::test_a_retried_ingest_after_the_commit_keeps_the_dataset (split per sub-point).

On c20e05e: TRADING_OPT_DATASET_MAX_ROWS is never read, so a synthetic request for 2 x 1600 bars
with a 3000-row cap is accepted (202, a job queued) instead of a 422 naming `bars`; an upload over
the cap ingests fine instead of failing with "the limit is 3000 rows". #8: after the ingest job
succeeds, a retry of the same job (worker died before it ended) fails because the staged upload
was deleted, and the end hook deletes the dataset.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import API_KEY, _clear_settings_caches, _running_app
from tests.support.jobrun import run_job
from tradeopt_data.service import upload_key
from tradeopt_ml.data import load_sample

pytestmark = pytest.mark.integration


@pytest.fixture
async def capped(fleet_env, monkeypatch) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """The data service with 3,000 rows per dataset and uploads over 64 KiB sent to a job."""
    monkeypatch.setenv("TRADING_OPT_DATASET_MAX_ROWS", "3000")
    monkeypatch.setenv("TRADING_OPT_UPLOAD_INLINE_MAX_BYTES", str(64 * 1024))
    _clear_settings_caches()
    async with (
        _running_app("tradeopt_data.app") as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://data.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as c,
    ):
        yield app, c


async def test_d01a_synthetic_over_the_row_cap_is_a_422_before_any_work(capped):
    _, client = capped
    resp = await client.post(
        "/api/v1/datasets",
        json={"source": "synthetic", "symbols": ["A", "B"], "bars": 1600},
    )
    assert resp.status_code == 422, resp.text
    assert "3000 rows" in resp.json()["detail"]
    assert resp.json()["errors"][0]["loc"] == ["body", "bars"]
    assert (await client.get("/api/v1/jobs")).json()["items"] == []


async def test_d01b_upload_over_the_row_cap_fails_in_its_job(capped):
    _, client = capped
    spy = load_sample("SPY").drop(columns="symbol")
    assert len(spy) > 3000
    content = spy.to_csv(index=False).encode()
    big = await client.post(
        "/api/v1/datasets", files={"file": ("spy.csv", content, "text/csv")}, data={"symbol": "SPY"}
    )
    assert big.status_code == 202, big.text  # over 64 KiB: checked in its job
    job = await run_job(client, big.json()["job_id"])
    assert job["status"] == "failed" and "the limit is 3000 rows" in (job["error"] or ""), job


async def test_d08_a_retried_ingest_after_the_commit_keeps_the_dataset(capped):
    """The staged upload used to be deleted before the dataset was committed; a job retried
    after a crash then failed, and its end hook deleted the dataset.
    """
    app, client = capped
    content = load_sample("SPY").drop(columns="symbol").head(2500).to_csv(index=False).encode()
    created = await client.post(
        "/api/v1/datasets", files={"file": ("spy.csv", content, "text/csv")}, data={"symbol": "SPY"}
    )
    assert created.status_code == 202, created.text
    dataset = created.json()
    assert (await run_job(client, dataset["job_id"]))["status"] == "succeeded"
    ready = (await client.get(f"/api/v1/datasets/{dataset['id']}")).json()
    store = app.state.tradeopt.store
    staged = upload_key(uuid.UUID(dataset["id"]))
    assert not store.exists(staged)  # the staged copy is deleted once the dataset is committed

    from tradeopt_common.jobs.models import Job, JobStatus

    async with app.state.tradeopt.db.unit_of_work() as s:  # the worker died before it ended
        await s.execute(
            update(Job).where(Job.id == dataset["job_id"]).values(status=JobStatus.QUEUED)
        )
    again = await run_job(client, dataset["job_id"])
    assert again["status"] == "succeeded", again
    after = await client.get(f"/api/v1/datasets/{dataset['id']}")
    assert after.status_code == 200, after.text
    after = after.json()
    assert after["status"] == "ready" and after["checksum"] == ready["checksum"]
