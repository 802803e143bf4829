"""examples/curl: every creating POST carries an Idempotency-Key derived from what it sends
(hardening item 25: the curl pipeline sent none, so each run made another dataset; then the key
prefix was random per run, so a plain re-run still did). Against a local fake API that replays
the first answer per key as the real one does (real bash, curl and jq): a second run with the
same inputs sends the same keys, a changed input changes only the keys of what it changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.support import ROOT
from tests.support.http_fake import JsonHandler, serving

pytestmark = pytest.mark.unit


class _FakeApi(JsonHandler):
    """Creates on a new Idempotency-Key, replays the first answer on a repeated one."""

    posts: list[tuple[str, str | None]] = []
    answers: dict[str, dict[str, str]] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.body()
        path, key = self.path.removeprefix("/api/v1"), self.headers.get("Idempotency-Key")
        type(self).posts.append((path, key))
        fresh = {"id": f"{path.strip('/').replace('/', '-')}-{len(self.posts)}"}
        self.reply(202, self.answers.setdefault(key, fresh) if key else fresh)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.removeprefix("/api/v1")
        if path.endswith("/report"):
            data = b"<html>report</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path.startswith("/runs/"):
            self.reply(200, {"status": "succeeded", "model_id": "m-" + path.rsplit("-", 1)[-1]})
        elif path.startswith("/evaluations/"):
            self.reply(200, {"status": "succeeded", "comparison": [], "sharpe_ci": [0, 1]})
        else:
            self.reply(200, {"status": "ready", "symbols": {}})


@pytest.fixture
def api() -> Iterator[str]:
    assert shutil.which("curl") and shutil.which("jq"), "curl and jq are needed"
    _FakeApi.posts, _FakeApi.answers = [], {}
    with serving(_FakeApi) as url:
        yield url


def _pipeline(api: str, out: Path, **env: str) -> list[tuple[str, str | None]]:
    """Run examples/curl/pipeline.sh; the POSTs it sent (path, Idempotency-Key)."""
    before = len(_FakeApi.posts)
    clean = {k: v for k, v in os.environ.items() if k != "IDEMPOTENCY_PREFIX"}
    done = subprocess.run(
        ["bash", str(ROOT / "examples/curl/pipeline.sh")],
        env={**clean, "API": api, "TRADING_OPT_API_KEY": "k", "OUT": str(out),
             "POLL_SECONDS": "0", **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _FakeApi.posts[before:]


def test_a_rerun_with_the_same_inputs_sends_the_same_keys(api: str, tmp_path: Path) -> None:
    first = _pipeline(api, tmp_path / "1.html", TIMESTEPS="64")
    assert {p for p, _ in first} >= {"/datasets", "/runs"}
    assert all(key for _, key in first), f"POSTs without an Idempotency-Key: {first}"
    assert len({key for _, key in first}) == len(first)  # one key per resource
    again = _pipeline(api, tmp_path / "2.html", TIMESTEPS="64")
    assert again == first
    changed = _pipeline(api, tmp_path / "3.html", TIMESTEPS="128")
    pairs = list(zip(first, changed, strict=True))
    datasets = [(a, b) for a, b in pairs if a[0] == "/datasets"]
    assert datasets and all(a == b for a, b in datasets)  # the dataset request did not change
    runs = [(a, b) for a, b in pairs if a[0] == "/runs"]
    assert runs and all(a[1] != b[1] for a, b in runs)  # the runs did
    other = _pipeline(api, tmp_path / "4.html", TIMESTEPS="64", IDEMPOTENCY_PREFIX="again")
    assert all(a[1] != b[1] for a, b in zip(first, other, strict=True))
