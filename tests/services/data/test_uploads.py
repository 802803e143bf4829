"""Uploads through the HTTP API: CSV/Parquet round trips, bad files rejected with row reports and
nothing stored, explicit repairs, and large uploads ingested as jobs."""

from __future__ import annotations

import gzip
import io
import uuid

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from tests.support.jobrun import run_job
from tradeopt_ml.data import SAMPLE_SYMBOLS, bars_checksum, load_sample, sample_path

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _small_csv(rows: int = 40) -> pd.DataFrame:
    dates = pd.bdate_range("2024-01-02", periods=rows)
    close = 100 + np.arange(rows, dtype=float)
    return pd.DataFrame(
        {
            "Date": dates.strftime("%Y-%m-%d"),
            "Open": close - 0.5,
            "High": close + 1,
            "Low": close - 1,
            "Close": close,
            "Adj Close": close * 0.9,
            "Volume": 1000 + np.arange(rows),
        }
    )


async def _upload(client, content: bytes, *, filename="bars.csv", ctype="text/csv", **fields):
    data = {k: v for k, v in fields.items() if v is not None}
    return await client.post(
        "/api/v1/datasets", files={"file": (filename, content, ctype)}, data=data
    )


async def _all_bars_csv(client, dataset_id: str) -> pd.DataFrame:
    resp = await client.get(f"/api/v1/datasets/{dataset_id}/bars", params={"format": "csv"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(resp.text))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    return frame


async def _counts(data_app) -> tuple[int, int]:
    from tradeopt_data.models import Dataset

    async with data_app.state.tradeopt.db.unit_of_work() as s:
        rows = await s.scalar(select(func.count()).select_from(Dataset))
    keys = data_app.state.tradeopt.store.list_keys("datasets/")
    return int(rows or 0), len(keys)


@pytest.mark.parametrize("symbol", SAMPLE_SYMBOLS)
async def test_every_sample_round_trips_bar_for_bar(client, symbol):
    raw = gzip.decompress(sample_path(symbol).read_bytes())
    resp = await _upload(client, raw, filename=f"{symbol}.csv", symbol=symbol)
    assert resp.status_code == 201, resp.text
    dataset = resp.json()
    expected = load_sample(symbol)
    assert dataset["status"] == "ready"
    assert dataset["rows"] == len(expected)
    assert dataset["checksum"] == bars_checksum(expected)
    assert dataset["meta"]["price_for_returns"] == "adj_close"
    back = await _all_bars_csv(client, dataset["id"])
    assert len(back) == len(expected)
    back["symbol"] = back["symbol"].astype(expected["symbol"].dtype)
    # whole share volumes come back as the integers the file holds; stored as float64
    assert back["volume"].dtype == "int64"
    back["volume"] = back["volume"].astype(expected["volume"].dtype)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert bars_checksum(back) == dataset["checksum"]
    page = await client.get(
        f"/api/v1/datasets/{dataset['id']}/bars", params={"limit": 3, "format": "json"}
    )
    items = page.json()["items"]
    assert [i["close"] for i in items] == expected["close"].iloc[:3].tolist()
    assert page.json()["total"] == len(expected)


async def test_parquet_upload_and_json_pagination_cover_every_row(client):
    spy = load_sample("SPY").iloc[:250]
    buffer = io.BytesIO()
    spy.to_parquet(buffer, index=False)
    resp = await _upload(
        client, buffer.getvalue(), filename="spy.parquet", ctype="application/octet-stream"
    )
    assert resp.status_code == 201, resp.text
    dataset_id = resp.json()["id"]
    seen, cursor = [], None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(f"/api/v1/datasets/{dataset_id}/bars", params=params)).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 250
    assert seen[0]["t"] == "1993-01-29T00:00:00Z"
    assert [b["adj_close"] for b in seen] == spy["adj_close"].tolist()


async def test_yahoo_style_aliases_and_unadjusted_files_are_described(client):
    frame = _small_csv()
    resp = await _upload(client, _csv_bytes(frame), symbol="ABC", name="abc daily")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["symbols"] == ["ABC"] and body["name"] == "abc daily" and body["rows"] == 40
    plain = frame.drop(columns=["Adj Close"])
    resp = await _upload(client, _csv_bytes(plain), symbol="XYZ")
    assert resp.status_code == 201, resp.text
    assert resp.json()["meta"]["price_for_returns"] == "close"
    assert "no adjusted close" in resp.json()["meta"]["adjustment_note"]


async def test_multi_symbol_file(client):
    a = _small_csv().assign(Ticker="AAA")
    b = _small_csv().assign(Ticker="BBB")
    resp = await _upload(client, _csv_bytes(pd.concat([a, b])))
    assert resp.status_code == 201, resp.text
    assert resp.json()["symbols"] == ["AAA", "BBB"]
    one = await client.get(
        f"/api/v1/datasets/{resp.json()['id']}/bars", params={"symbol": "BBB", "limit": 1000}
    )
    assert {i["symbol"] for i in one.json()["items"]} == {"BBB"}
    assert one.json()["total"] == 40


def _bad_files() -> dict[str, tuple[bytes, str, int, str]]:
    good = _small_csv()

    def edit(fn) -> bytes:
        frame = good.copy()
        fn(frame)
        return _csv_bytes(frame)

    def swap(f: pd.DataFrame) -> None:
        f.loc[[5, 6]] = f.loc[[6, 5]].to_numpy()

    return {
        "unparseable timestamp": (
            edit(lambda f: f.__setitem__("Date", f["Date"].where(f.index != 3, "not-a-date"))),
            "text/csv",
            3,
            "timestamp",
        ),
        "duplicate": (
            edit(lambda f: f.__setitem__("Date", f["Date"].where(f.index != 8, f["Date"][7]))),
            "text/csv",
            8,
            "duplicate",
        ),
        "unsorted": (edit(swap), "text/csv", 6, "earlier"),
        "non-positive": (
            edit(lambda f: f.loc.__setitem__((4, "Low"), -1.0)),
            "text/csv",
            4,
            "positive",
        ),
        "high below body": (
            edit(lambda f: f.loc.__setitem__((9, "High"), 50.0)),
            "text/csv",
            9,
            "high",
        ),
        "low above body": (
            edit(lambda f: f.loc.__setitem__((10, "Low"), 500.0)),
            "text/csv",
            10,
            "low",
        ),
        "negative volume": (
            edit(lambda f: f.loc.__setitem__((11, "Volume"), -5)),
            "text/csv",
            11,
            "volume",
        ),
        "nan": (
            edit(lambda f: f.loc.__setitem__((12, "Close"), np.nan)),
            "text/csv",
            12,
            "",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
async def test_bad_rows_are_422_naming_the_rows_and_nothing_is_stored(client, data_app, case):
    content, ctype, row, word = _bad_files()[case]
    before = await _counts(data_app)
    resp = await _upload(client, content, ctype=ctype, symbol="BAD")
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["errors"], body
    rows = {e.get("row") for e in body["errors"]}
    assert row in rows, body["errors"]
    assert word.lower() in " ".join(str(e.get("problem", "")) for e in body["errors"]).lower()
    assert body["counts"] and body["total"] >= 1
    assert await _counts(data_app) == before


@pytest.mark.parametrize(
    ("content", "filename", "ctype", "status"),
    [
        (b"", "empty.csv", "text/csv", 422),
        (bytes(range(256)) * 8, "blob.csv", "text/csv", 422),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "chart.csv", "text/csv", 422),
        (b"Date,Open\n2024-01-02,1\n", "x.png", "image/png", 415),
        (b"Date,Open,High\n2024-01-02,1,2\n", "few.csv", "text/csv", 422),
    ],
    ids=["empty", "binary", "png", "media-type", "missing-columns"],
)
async def test_bad_files_are_rejected_and_nothing_is_stored(
    client, data_app, content, filename, ctype, status
):
    before = await _counts(data_app)
    resp = await _upload(client, content, filename=filename, ctype=ctype, symbol="BAD")
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["detail"]
    assert await _counts(data_app) == before


async def test_too_few_rows_and_form_errors(client, data_app):
    before = await _counts(data_app)
    resp = await _upload(client, _csv_bytes(_small_csv(5)), symbol="FEW")
    assert resp.status_code == 422 and "row" in resp.json()["detail"].lower(), resp.text
    resp = await client.post("/api/v1/datasets", data={"symbol": "X"}, files={"x": ("a", b"1")})
    assert resp.status_code == 422, resp.text
    resp = await _upload(client, _csv_bytes(_small_csv()), symbol="BAD SYMBOL!")
    assert resp.status_code == 422, resp.text
    resp = await _upload(client, _csv_bytes(_small_csv()), symbol="OK", repair="shuffle")
    assert resp.status_code == 422 and "shuffle" in resp.json()["detail"], resp.text
    resp = await client.post(
        "/api/v1/datasets", content=b"a,b", headers={"content-type": "text/csv"}
    )
    assert resp.status_code == 415, resp.text
    assert await _counts(data_app) == before


async def test_repairs_are_explicit_and_reported(client):
    frame = _small_csv()
    messy = pd.concat([frame.iloc[[1, 0]], frame.iloc[2:], frame.iloc[[5]]])
    messy.loc[messy.index[7], "Close"] = np.nan
    content = _csv_bytes(messy)
    refused = await _upload(client, content, symbol="FIX")
    assert refused.status_code == 422
    resp = await _upload(client, content, symbol="FIX", repair="sort,drop_duplicates,ffill")
    assert resp.status_code == 201, resp.text
    dataset = resp.json()
    assert dataset["rows"] == 40
    report = dataset["meta"]["repairs"]
    assert report, dataset["meta"]
    text = str(report).lower()
    assert "sort" in text and "drop_duplicates" in text and "ffill" in text


async def test_large_upload_runs_as_a_job_and_a_bad_one_leaves_nothing(
    client, data_app, monkeypatch
):
    data_app.state.tradeopt.settings.upload_inline_max_bytes = 1024
    raw = gzip.decompress(sample_path("GLD").read_bytes())
    resp = await _upload(client, raw, filename="GLD.csv", symbol="GLD")
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert created["status"] == "queued"
    job = await run_job(client, created["job_id"])
    assert job["status"] == "succeeded", job
    ready = (await client.get(f"/api/v1/datasets/{created['id']}")).json()
    assert ready["status"] == "ready" and ready["checksum"] == bars_checksum(load_sample("GLD"))
    keys = data_app.state.tradeopt.store.list_keys(f"datasets/{created['id']}/")
    prefix = f"datasets/{created['id']}/"
    assert sorted(keys) == [f"{prefix}bars.parquet", f"{prefix}manifest.json"]  # upload gone
    from tradeopt_common.contracts.datasets import read_manifest

    manifest = read_manifest(data_app.state.tradeopt.store, uuid.UUID(created["id"]))
    assert manifest is not None and manifest.checksum == ready["checksum"]
    assert manifest.rows == ready["rows"] and manifest.symbols == ["GLD"]

    before = await _counts(data_app)
    bad = _small_csv(200)
    bad.loc[150, "High"] = 1.0
    resp = await _upload(client, _csv_bytes(bad), symbol="BAD")
    assert resp.status_code == 202, resp.text
    job = await run_job(client, resp.json()["job_id"])
    assert job["status"] == "failed"
    assert "validation" in job["error"].lower() or "row" in job["error"].lower()
    problem = job["result"]["problem"]
    assert any(e.get("row") == 150 for e in problem["errors"]), problem
    missing = await client.get(f"/api/v1/datasets/{resp.json()['id']}")
    assert missing.status_code == 404
    assert await _counts(data_app) == before


async def test_upload_size_limit_is_413_and_stores_nothing(client, data_app):
    data_app.state.tradeopt.settings.max_upload_bytes = 50_000
    before = await _counts(data_app)
    big = _csv_bytes(_small_csv(2000))
    assert len(big) > 50_000
    resp = await _upload(client, big, symbol="BIG")
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert await _counts(data_app) == before
    small = await _upload(client, _csv_bytes(_small_csv(60)), symbol="SMALL")
    assert small.status_code == 201, small.text
