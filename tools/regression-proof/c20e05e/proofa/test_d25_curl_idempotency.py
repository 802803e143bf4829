"""Defect #25 sub-point "examples/curl_pipeline.sh sends no Idempotency-Key (each run makes
another dataset)".

Main-side test: tests/e2e/test_api_clients.py::test_curl_scripts_run_against_the_fleet (the
examples/curl scripts against the e2e fleet; "the whole pipeline again with the same prefix:
every POST replays its first response"). That needs the e2e fleet; the smallest test that shows
the same defect on c20e05e runs c20's examples/curl_pipeline.sh twice against a local fake API
(canned answers, real curl + jq) that records every POST's headers: every creating POST must carry
an Idempotency-Key, and the second run (same IDEMPOTENCY_PREFIX, main's documented way to
re-run) must send the same keys (so the API replays the first
answers instead of creating another dataset, runs and evaluation).

On c20e05e: no POST carries an Idempotency-Key. On main the same test passes against
examples/curl/pipeline.sh (PROOF_SCRIPT=/work/main/examples/curl/pipeline.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


class _FakeApi(BaseHTTPRequestHandler):
    posts: list[tuple[str, str | None]] = []
    counter = 0

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        path = self.path.removeprefix("/api/v1")
        type(self).posts.append((path, self.headers.get("Idempotency-Key")))
        type(self).counter += 1
        self._json({"id": f"{path.strip('/').replace('/', '-')}-{self.counter}"}, 202)

    def do_GET(self) -> None:
        path = self.path.removeprefix("/api/v1")
        if path.endswith("/report"):
            data = b"<html>report</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path.startswith("/runs/"):
            self._json({"status": "succeeded", "model_id": "m-" + path.rsplit("-", 1)[-1]})
        elif path.startswith("/evaluations/"):
            self._json({"status": "succeeded", "comparison": [], "sharpe_ci": [0, 1]})
        else:
            self._json({"status": "ready", "symbols": {}})


def _run_script(api: str, out: Path) -> None:
    env = {
        **os.environ, "API": api, "TRADING_OPT_API_KEY": "k", "OUT": str(out), "TIMESTEPS": "64",
        "IDEMPOTENCY_PREFIX": "proof-1", "POLL_SECONDS": "0",
    }  # fmt: skip
    done = subprocess.run(
        ["bash", os.environ.get("PROOF_SCRIPT", str(ROOT / "examples/curl_pipeline.sh"))],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_d25g_the_curl_pipeline_sends_an_idempotency_key_on_every_post(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}"
        _run_script(api, tmp_path / "r1.html")
        first = list(_FakeApi.posts)
        _FakeApi.posts.clear()
        _run_script(api, tmp_path / "r2.html")
        second = list(_FakeApi.posts)
    finally:
        server.shutdown()
    assert first and {p for p, _ in first} >= {"/datasets", "/runs"}
    missing = [path for path, key in first if not key]
    assert not missing, f"POSTs without an Idempotency-Key: {missing}"
    assert [k for _, k in second] == [k for _, k in first], (first, second)
