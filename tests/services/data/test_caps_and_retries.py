"""Hardening items 1, 2 and 8 on the data service (real database, S3 server, jobs run through
the job protocol): row caps are a 422 before any work, CSV answers stream in bounded chunks,
the frame cache is bounded by bytes, and a staged upload survives until its dataset is
committed, so a retried ingest job keeps the dataset."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator

import httpx
import pandas as pd
import pytest
from sqlalchemy import update

from tests.conftest import API_KEY, _clear_settings_caches, _running_app
from tests.support.jobrun import ingest, run_job
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


async def test_more_rows_than_the_cap_is_a_422_before_any_work(capped):
    _, client = capped
    resp = await client.post(
        "/api/v1/datasets",
        json={"source": "synthetic", "symbols": ["A", "B"], "bars": 1600},
    )
    assert resp.status_code == 422, resp.text
    assert "3000 rows" in resp.json()["detail"]
    assert resp.json()["errors"][0]["loc"] == ["body", "bars"]
    assert (await client.get("/api/v1/jobs")).json()["items"] == []
    ok = await client.post(
        "/api/v1/datasets", json={"source": "synthetic", "symbols": ["A", "B"], "bars": 1500}
    )
    assert ok.status_code == 202
    # SPY's sample has more than 3,000 rows: refused with the count and the limit
    spy = load_sample("SPY").drop(columns="symbol")
    content = spy.to_csv(index=False).encode()
    small = spy.head(40).to_csv(index=False).encode()
    inline = await client.post(
        "/api/v1/datasets", files={"file": ("spy.csv", small, "text/csv")}, data={"symbol": "SPY"}
    )
    assert inline.status_code == 201, inline.text
    big = await client.post(
        "/api/v1/datasets", files={"file": ("spy.csv", content, "text/csv")}, data={"symbol": "SPY"}
    )
    assert big.status_code == 202, big.text  # over 64 KiB: checked in its job
    job = await run_job(client, big.json()["job_id"])
    assert job["status"] == "failed" and "the limit is 3000 rows" in job["error"]


async def test_a_retried_ingest_after_the_commit_keeps_the_dataset(capped):
    """The staged upload used to be deleted before the dataset was committed; a job retried
    after a crash then failed, and its end hook deleted the dataset."""
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
    after = (await client.get(f"/api/v1/datasets/{dataset['id']}")).json()
    assert after["status"] == "ready" and after["checksum"] == ready["checksum"]


async def test_csv_answers_stream_and_the_frame_cache_is_bounded(client, data_app, monkeypatch):
    from tradeopt_data import reads
    from tradeopt_data.routes import datasets as routes

    monkeypatch.setattr(routes, "CSV_CHUNK_ROWS", 1000)
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    resp = await client.get(f"/api/v1/datasets/{spy['id']}/bars", params={"format": "csv"})
    assert resp.status_code == 200
    frame = pd.read_csv(io.StringIO(resp.text))
    assert len(frame) == spy["rows"] == int(resp.headers["x-total-count"])
    assert resp.text.count("symbol,timestamp") == 1  # one header across the chunks
    assert frame["timestamp"].is_monotonic_increasing

    monkeypatch.setattr(reads, "CACHE_BYTES", 1024)  # smaller than any frame: nothing cached
    reads._cache.clear()
    reads._cache_sizes.clear()
    syn = await ingest(client, {"source": "synthetic", "bars": 200})
    assert (await client.get(f"/api/v1/datasets/{syn['id']}/summary")).status_code == 200
    assert reads.cached_bytes() == 0
    monkeypatch.setattr(reads, "CACHE_BYTES", 10 * 1024 * 1024)
    for dataset in (spy, syn):
        assert (await client.get(f"/api/v1/datasets/{dataset['id']}/summary")).status_code == 200
    assert 0 < reads.cached_bytes() <= 10 * 1024 * 1024


async def test_a_dataset_can_be_renamed(client):
    """Hardening item 22: datasets could not be renamed."""
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


async def test_a_lost_end_notification_is_mirrored_on_the_dataset_by_the_reaper(client, data_app):
    """Hardening item 6, end to end on a real resource: a job ended where its dataset was not
    known and the notification was lost (broker down) used to leave the dataset ``queued``
    forever. The reaper of a process that knows the binding (a data worker's) mirrors the end
    on the dataset and clears ``end_pending``; later passes send nothing more."""
    from datetime import timedelta

    from tradeopt_common.db.base import utcnow
    from tradeopt_common.jobs import service as jobs
    from tradeopt_common.jobs.models import Job, JobStatus

    created = await client.post("/api/v1/datasets", json={"source": "sample", "symbol": "SPY"})
    assert created.status_code == 202, created.text
    dataset, job_id = created.json(), created.json()["job_id"]
    db = data_app.state.tradeopt.db
    async with db.unit_of_work() as s:  # canceled elsewhere, its job_ended message never sent
        await s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(status=JobStatus.CANCELED, finished_at=utcnow(), end_pending=True)
        )
    assert (await client.get(f"/api/v1/datasets/{dataset['id']}")).json()["status"] == "queued"

    sent: list[tuple[str, str]] = []

    class Recording:
        def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None):
            sent.append((job_id, task_name))

    async def reap(after: timedelta) -> jobs.ReapReport:
        async with db.unit_of_work() as s:
            report = await jobs.reap(
                s,
                stale_after=timedelta(minutes=5),
                requeue_after=timedelta(seconds=1),
                in_broker=set(),
                now=utcnow() + after,
                dispatcher=Recording(),
            )
            jobs.publish_all(s, Recording(), report)
        return report

    import tradeopt_data.jobs  # noqa: F401 - this process now knows the dataset binding

    first = await reap(timedelta(seconds=30))
    assert first.renotified == []  # mirrored here, nothing to send
    after = (await client.get(f"/api/v1/datasets/{dataset['id']}")).json()
    assert after["status"] == "canceled", after
    async with db.unit_of_work() as s:
        assert (await s.get(Job, uuid.UUID(job_id))).end_pending is False
    later = await reap(timedelta(minutes=2))
    assert later.renotified == [] and sent == []
