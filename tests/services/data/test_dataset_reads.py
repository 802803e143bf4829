"""Reading a stored dataset through the API: samples (single and aligned multi-asset), synthetic
and provider sources, summary, splits and walk-forward folds, the feature catalog and previews
with train-only normalisation, feature builds as jobs, and delete protection."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests.support.jobrun import ingest, run_job
from tradeopt_ml.data import Panel, load_sample
from tradeopt_ml.features import FeatureSpec, Normalizer, catalog, compute_features

pytestmark = pytest.mark.integration


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


async def test_multi_asset_sample_is_aligned_on_common_dates(client):
    dataset = await ingest(client, {"source": "sample", "symbol": ["TLT", "SPY"]})
    assert dataset["symbols"] == ["SPY", "TLT"]
    frames = [load_sample("SPY"), load_sample("TLT")]
    common = set(frames[0]["timestamp"]) & set(frames[1]["timestamp"])
    assert dataset["rows"] == 2 * len(common)
    assert dataset["meta"]["alignment"]["dropped"]["SPY"] == len(frames[0]) - len(common)
    summary = (await client.get(f"/api/v1/datasets/{dataset['id']}/summary")).json()
    assert summary["symbols"]["SPY"]["rows"] == summary["symbols"]["TLT"]["rows"] == len(common)


async def test_synthetic_is_seeded_and_invalid_params_are_422(client):
    body = {
        "source": "synthetic",
        "kind": "jump",
        "symbols": ["AAA", "BBB"],
        "bars": 300,
        "seed": 7,
    }
    first = await ingest(client, body)
    second = await ingest(client, body)
    assert first["checksum"] == second["checksum"] and first["rows"] == 600
    assert first["meta"]["price_for_returns"] == "close"
    other = await ingest(client, {**body, "seed": 8})
    assert other["checksum"] != first["checksum"]
    bad = await client.post("/api/v1/datasets", json={**body, "params": {"warp": 9}})
    assert bad.status_code == 422 and "warp" in bad.text, bad.text
    bad = await client.post("/api/v1/datasets", json={**body, "bars": 5})
    assert bad.status_code == 422


async def test_provider_without_network_fails_as_a_clear_job_error(client):
    resp = await client.post(
        "/api/v1/datasets", json={"source": "yahoo", "symbol": "SPY", "start": "2020-01-01"}
    )
    assert resp.status_code == 202, resp.text
    job = await run_job(client, resp.json()["job_id"])
    assert job["status"] == "failed"
    assert "network" in job["error"].lower() or "yahoo" in job["error"].lower(), job
    dataset = (await client.get(f"/api/v1/datasets/{resp.json()['id']}")).json()
    assert dataset["status"] == "failed" and dataset["error"] == job["error"]


async def test_bars_filters_and_errors(client, spy):
    base = f"/api/v1/datasets/{spy['id']}/bars"
    body = (
        await client.get(base, params={"start": "2020-03-02", "end": "2020-03-06", "limit": 50})
    ).json()
    assert [b["t"][:10] for b in body["items"]] == [
        "2020-03-02",
        "2020-03-03",
        "2020-03-04",
        "2020-03-05",
        "2020-03-06",
    ]
    assert body["next_cursor"] is None and body["total"] == 5
    # share volumes come back as the integers the source holds (issue 16 #25), in both formats
    assert all(isinstance(b["volume"], int) for b in body["items"])
    csv = await client.get(base, params={"format": "csv", "limit": 2})
    assert csv.headers["x-total-count"] == "8222" and csv.headers["x-next-cursor"]
    assert csv.text.splitlines()[0] == "symbol,timestamp,open,high,low,close,adj_close,volume"
    assert len(csv.text.splitlines()) == 3
    assert not csv.text.splitlines()[1].endswith(".0")  # 1003200, not 1003200.0
    for params, status in [
        ({"symbol": "QQQ"}, 422),
        ({"cursor": "nope"}, 422),
        ({"start": "2021-01-01", "end": "2020-01-01"}, 422),
        ({"format": "xml"}, 422),
        ({"limit": 0}, 422),
    ]:
        resp = await client.get(base, params=params)
        assert resp.status_code == status, (params, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    missing = await client.get(f"/api/v1/datasets/{uuid.uuid4()}/bars")
    assert missing.status_code == 404


async def test_reads_of_a_dataset_that_is_not_ready_are_409(client):
    resp = await client.post("/api/v1/datasets", json={"source": "sample", "symbol": "QQQ"})
    queued = resp.json()
    for path in ("bars", "summary", "splits"):
        got = await client.get(f"/api/v1/datasets/{queued['id']}/{path}")
        assert got.status_code == 409, (path, got.text)


async def test_summary_matches_the_sample(client, spy):
    body = (await client.get(f"/api/v1/datasets/{spy['id']}/summary")).json()
    stats = body["symbols"]["SPY"]
    frame = load_sample("SPY")
    adj = frame["adj_close"].to_numpy()
    assert stats["rows"] == len(frame)
    assert stats["total_return"] == pytest.approx(adj[-1] / adj[0] - 1)
    drawdown = adj / np.maximum.accumulate(adj) - 1
    assert stats["max_drawdown"] == pytest.approx(drawdown.min())
    assert stats["gaps"]["method"] == "calendar" and stats["gaps"]["missing_sessions"] == 0


async def test_splits_and_walk_forward_folds(client, spy):
    base = f"/api/v1/datasets/{spy['id']}/splits"
    body = (await client.get(base)).json()
    split = body["split"]
    assert body["bars"] == 8222
    assert split["train"]["start"] == 0
    assert split["train"]["stop"] == split["validation"]["start"]
    assert split["test"]["stop"] == 8222
    dated = (
        await client.get(base, params={"train_end": "2015-12-31", "validation_end": "2019-12-31"})
    ).json()["split"]
    assert dated["train"]["end_time"].startswith("2015-12-31")
    assert dated["validation"]["start_time"].startswith("2016-01-04")
    embargoed = (
        await client.get(base, params={"train": 0.6, "validation": 0.2, "test": 0.2, "embargo": 5})
    ).json()["split"]
    assert embargoed["validation"]["start"] - embargoed["train"]["stop"] == 5
    folds = (
        await client.get(
            base,
            params={"fold_train_bars": 2000, "fold_test_bars": 500, "fold_embargo_bars": 2},
        )
    ).json()["folds"]
    assert len(folds) >= 10
    for fold in folds:
        assert fold["train"]["stop"] + 2 == fold["test"]["start"]
        assert fold["test"]["stop"] - fold["test"]["start"] == 500
    for params in (
        {"train": 0.9, "validation": 0.9, "test": 0.1},
        {"train_end": "1980-01-01", "validation_end": "1990-01-01"},
        {"train": 0.7, "train_end": "2015-12-31"},
        {"fold_train_bars": 9000, "fold_test_bars": 500},
    ):
        resp = await client.get(base, params=params)
        assert resp.status_code == 422, (params, resp.text)


async def test_feature_catalog(client):
    body = (await client.get("/api/v1/features")).json()
    # the library's catalog (its names are pinned in tests/libs/ml/features/test_features_spec.py)
    assert [item["name"] for item in body["items"]] == [entry["name"] for entry in catalog()]
    rsi = next(item for item in body["items"] if item["name"] == "rsi")
    assert rsi["params"] and rsi["description"]
    assert body["default_columns"] == FeatureSpec.default().columns()


async def test_feature_preview_is_cached_and_normalised_on_train_only(client, data_app, spy):
    url = f"/api/v1/datasets/{spy['id']}/features/preview"
    first = await client.post(url, json={"limit": 70})
    assert first.status_code == 200, first.text
    body = first.json()
    spec = FeatureSpec.default()
    assert body["cached"] is False and body["spec_hash"] == spec.hash()
    assert body["columns"] == spec.columns()
    assert len(body["rows"]) == 70
    assert any(v is None for v in body["rows"][0]["values"])  # warm-up stays empty
    assert all(v is not None for v in body["rows"][body["valid_from"]]["values"])
    keys = data_app.state.tradeopt.store.list_keys(f"datasets/{spy['id']}/features/")
    assert f"datasets/{spy['id']}/features/{spec.hash()}.parquet" in keys
    again = (await client.post(url, json={"limit": 70})).json()
    assert again["cached"] is True and again["rows"] == body["rows"]

    panel = Panel.from_bars(load_sample("SPY"))
    expected = compute_features(panel, spec)
    train_end = "2010-12-31"
    stop = int(np.searchsorted(panel.timestamps, np.datetime64("2011-01-01")))
    normalised = (
        await client.post(
            url, json={"limit": 5, "start": "2020-01-02", "normalize_train_end": train_end}
        )
    ).json()
    assert normalised["normalization"]["train_bars"] == stop
    reference = Normalizer.fit(expected, (0, stop)).transform(expected)
    row = int(np.searchsorted(panel.timestamps, np.datetime64("2020-01-02")))
    np.testing.assert_allclose(normalised["rows"][0]["values"], reference[row, 0], rtol=1e-6)
    full = Normalizer.fit(expected, (0, panel.n_bars)).transform(expected)
    assert not np.allclose(normalised["rows"][0]["values"], full[row, 0])


async def test_feature_spec_errors_are_422(client, spy):
    url = f"/api/v1/datasets/{spy['id']}/features/preview"
    for spec in (
        {"features": [{"name": "astrology", "params": {}}]},
        {"features": [{"name": "rsi", "params": {"window": -3}}]},
        {"features": [{"name": "rsi", "params": {"colour": 1}}]},
    ):
        resp = await client.post(url, json={"spec": spec})
        assert resp.status_code == 422, (spec, resp.text)
        assert resp.json()["errors"]
    resp = await client.post(url, json={"symbol": "QQQ"})
    assert resp.status_code == 422


async def test_feature_build_job_caches_the_spec(client, data_app, spy):
    spec = {"features": [{"name": "rsi", "params": {"window": 10}}]}
    resp = await client.post(f"/api/v1/datasets/{spy['id']}/features", json={"spec": spec})
    assert resp.status_code == 202, resp.text
    job = await run_job(client, resp.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["cached"] is False
    assert data_app.state.tradeopt.store.exists(resp.json()["key"])


async def test_delete_is_409_while_a_run_references_the_dataset(client, data_app, spy):
    from tradeopt_common.references import add_reference, remove_references

    run_id = uuid.uuid4()
    async with data_app.state.tradeopt.db.unit_of_work() as s:
        await add_reference(s, "dataset", uuid.UUID(spy["id"]), "run", run_id)
        await add_reference(s, "dataset", uuid.UUID(spy["id"]), "run", run_id)  # idempotent
    resp = await client.delete(f"/api/v1/datasets/{spy['id']}")
    assert resp.status_code == 409, resp.text
    assert resp.json()["referrers"] == [{"type": "run", "id": str(run_id)}]
    assert (await client.get(f"/api/v1/datasets/{spy['id']}/bars?limit=1")).status_code == 200
    async with data_app.state.tradeopt.db.unit_of_work() as s:
        assert await remove_references(s, "run", run_id) == 1
    assert (await client.delete(f"/api/v1/datasets/{spy['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/datasets/{spy['id']}")).status_code == 404
