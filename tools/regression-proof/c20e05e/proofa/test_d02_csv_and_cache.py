"""Defect #2 (a read key can OOM the data API), adapted from main's
tests/services/data/test_caps_and_retries.py::test_csv_answers_stream_and_the_frame_cache_is_bounded.

Main's test monkeypatches routes.CSV_CHUNK_ROWS and reads.CACHE_BYTES, names that do not exist on
c20e05e (monkeypatch would fail with AttributeError, not because of the defect). Adapted:
* 2a: GET …/bars?format=csv without a limit on a 60,000-row dataset is called as raw ASGI and
  every `http.response.body` message is captured: no message may hold more than main's default
  CSV_CHUNK_ROWS (50,000) rows. On c20e05e the whole answer is ONE string of 60,001 lines.
* 2b: with a byte budget smaller than any frame (set with raising=False so the same test runs on
  both trees), reading a dataset's summary must cache nothing. On c20e05e the frame is cached
  anyway (the cache is bounded only by count: 8 datasets of any size).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import API_KEY
from tests.support.jobrun import ingest

pytestmark = pytest.mark.integration
MAIN_CSV_CHUNK_ROWS = 50_000


async def _asgi_get(app, path: str, query: str) -> tuple[int, list[bytes]]:
    messages: list[bytes] = []
    status: list[int] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "server": ("data.test", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"data.test"), (b"authorization", f"Bearer {API_KEY}".encode())],
    }  # fmt: skip
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until the answer ends

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body" and message.get("body"):
            messages.append(message["body"])

    await app(scope, receive, send)
    return status[0], messages


async def test_d02a_an_unbounded_csv_answer_is_sent_in_bounded_chunks(client, data_app):
    syn = await ingest(client, {"source": "synthetic", "symbols": ["A", "B"], "bars": 30_000})
    assert syn["rows"] == 60_000
    status, bodies = await _asgi_get(data_app, f"/api/v1/datasets/{syn['id']}/bars", "format=csv")
    assert status == 200
    text = b"".join(bodies).decode()
    assert text.count("\n") == 60_001  # every row and one header
    largest = max(body.count(b"\n") for body in bodies)
    assert largest <= MAIN_CSV_CHUNK_ROWS + 1, (
        f"the CSV answer was built as {len(bodies)} body message(s); the largest holds "
        f"{largest} lines ({max(len(b) for b in bodies)} bytes)"
    )


async def test_d02b_the_frame_cache_is_bounded_by_bytes(client, monkeypatch):
    from tradeopt_data import reads

    monkeypatch.setattr(reads, "CACHE_BYTES", 1024, raising=False)  # smaller than any frame
    reads._cache.clear()
    if hasattr(reads, "_cache_sizes"):
        reads._cache_sizes.clear()
    syn = await ingest(client, {"source": "synthetic", "bars": 200})
    assert (await client.get(f"/api/v1/datasets/{syn['id']}/summary")).status_code == 200
    held = sum(int(f.memory_usage(deep=True).sum()) for f in reads._cache.values())
    assert held <= 1024, f"{len(reads._cache)} frame(s), {held} bytes cached over a 1 KiB budget"
