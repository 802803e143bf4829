"""Defect #25 sub-point "`pipeline submit` prints unrounded Sharpes".

Main-side test: none found (main's fix a8f2be2 formats the line with results.fmt('sharpe', …) in
tradeopt_cli.pipeline.remote.submit_pipeline; no test checks the printed text). Smallest test,
runs on both trees: submit_pipeline against an httpx.MockTransport (as tests/cli/test_pipeline.py's
submit test does) whose run reports a validation Sharpe of 0.123456789; the evaluation POST is
refused (422) to stop the pipeline right after training. StepBars.done is wrapped to record the
text each finished step prints.

On c20e05e: the run's step prints "validation Sharpe 0.123456789".
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli.test_pipeline import TINY
from tradeopt_cli.pipeline.config import parse_config

pytestmark = pytest.mark.unit


def test_d25h_pipeline_submit_prints_a_rounded_validation_sharpe(monkeypatch):
    import httpx

    from tradeopt_cli.pipeline import progress
    from tradeopt_cli.pipeline.remote import RemoteError, submit_pipeline

    printed: list[str] = []
    original = progress.StepBars.done

    def recording(self, task, text, *args, **kwargs):
        printed.append(text)
        return original(self, task, text, *args, **kwargs)

    monkeypatch.setattr(progress.StepBars, "done", recording)
    raw = {k: v for k, v in TINY.items() if k not in ("tune", "paper")}
    config = parse_config(raw)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        if request.method == "POST":
            if path.startswith("/evaluations"):
                return httpx.Response(422, json={"title": "Unprocessable", "detail": "stop here"})
            json.loads(request.content)
            return httpx.Response(202, json={"id": str(uuid.uuid4()), "status": "queued"})
        rid = path.split("/")[2]
        if path.startswith("/datasets/"):
            return httpx.Response(
                200, json={"id": rid, "status": "ready", "name": "SYN", "rows": 500}
            )
        return httpx.Response(
            200,
            json={
                "id": rid, "status": "succeeded", "progress": 1, "model_id": f"m-{rid}",
                "algorithm": "ppo", "seed": 0,
                "metrics": {"validation": {"sharpe": 0.123456789}},
            },
        )  # fmt: skip

    with pytest.raises(RemoteError, match="stop here"):
        submit_pipeline(
            config, api="http://gw", api_key="k", poll=0.01, transport=httpx.MockTransport(handler)
        )
    sharpe_lines = [t for t in printed if "Sharpe" in t]
    assert sharpe_lines, printed
    assert all("0.123456789" not in t and "0.12" in t for t in sharpe_lines), sharpe_lines
