"""k8s/workflows: the CronJob templates' scripts and submit.sh, run for real (sh, curl, jq) against
a fake gateway on 127.0.0.1 that records the calls."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import ROOT, find_tool, run
from tests.support.http_fake import JsonHandler, serving

pytestmark = pytest.mark.unit

SUBMIT = ROOT / "k8s" / "workflows" / "submit.sh"
API_KEY = "test-key-0123456789abcdef"


@dataclass
class FakeGateway:
    """POST -> `post_status` with {"id", "status"}; GET -> the next of `statuses`."""

    post_status: int = 202
    statuses: list[str] = field(default_factory=lambda: ["running", "succeeded"])
    calls: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.body() or b"null")
            fake.calls.append(
                {"method": "POST", "path": self.path, "body": body, "headers": dict(self.headers)}
            )
            if fake.post_status >= 400:
                self.reply(
                    fake.post_status,
                    {"type": "about:blank", "title": "Invalid", "status": fake.post_status},
                )
            else:
                self.reply(fake.post_status, {"id": "res-1", "status": "queued"})

        def do_GET(self) -> None:  # noqa: N802
            fake.calls.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
            status = fake.statuses.pop(0) if len(fake.statuses) > 1 else fake.statuses[0]
            self.reply(200, {"id": "res-1", "status": status, "progress": 0.5})

    with serving(Handler) as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="module")
def templates(kustomize: Callable[[Path], list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Name -> container of each workflow CronJob, as kustomize renders it."""
    for tool in ("curl", "jq", "sh"):
        find_tool(tool)
    objs = kustomize(ROOT / "k8s" / "workflows")
    return {
        o["metadata"]["name"]: o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        for o in objs
        if o["kind"] == "CronJob"
    }


def run_template(
    container: dict[str, Any], gateway: FakeGateway, **overrides: str
) -> subprocess.CompletedProcess[str]:
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(
        PATH="/usr/bin:/bin",
        TRADING_OPT_API_KEY=API_KEY,
        TRADEOPT_GATEWAY_URL=gateway.url,
        IDEMPOTENCY_KEY="workflow-job-1",
        POLL_SECONDS="0.05",
        TIMEOUT_SECONDS="20",
    )
    env.update(overrides)
    script = container["args"][0].replace("/scripts/submit.sh", str(SUBMIT))
    assert container["command"][-2:] == ["/bin/sh", "-ec"]
    return run(["/bin/sh", "-ec", script], env=env, check=False, timeout=30)


def posted(gateway: FakeGateway) -> dict[str, Any]:
    (post,) = [c for c in gateway.calls if c["method"] == "POST"]
    return post


def test_submit_script_passes_shellcheck() -> None:
    run([find_tool("shellcheck"), "-s", "sh", str(SUBMIT)])


def test_data_ingest_submits_and_waits(templates: dict, gateway: FakeGateway) -> None:
    proc = run_template(templates["workflow-data-ingest"], gateway)
    assert proc.returncode == 0, proc.stderr
    post = posted(gateway)
    assert post["path"] == "/api/v1/datasets"
    assert post["body"] == {"source": "sample", "symbol": "SPY"}
    assert post["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert post["headers"]["Idempotency-Key"] == "workflow-job-1"
    gets = [c for c in gateway.calls if c["method"] == "GET"]
    assert [g["path"] for g in gets] == ["/api/v1/datasets/res-1"] * 2
    assert json.loads(proc.stdout)["status"] == "succeeded"
    assert "status=running progress=0.5" in proc.stderr


def test_synchronous_create_returns_at_once(templates: dict, gateway: FakeGateway) -> None:
    gateway.post_status = 201
    proc = run_template(
        templates["workflow-data-ingest"],
        gateway,
        DATASET_REQUEST='{"source": "synthetic", "symbols": ["SYN"], "bars": 2000, "seed": 7}',
    )
    assert proc.returncode == 0, proc.stderr
    assert posted(gateway)["body"]["symbols"] == ["SYN"]
    assert all(c["method"] == "POST" for c in gateway.calls)


def test_train_body_follows_the_contract(templates: dict, gateway: FakeGateway) -> None:
    proc = run_template(
        templates["workflow-train"],
        gateway,
        DATASET_ID="ds-1",
        EXTRA='{"env": {"window": 32, "cost_bps": 5}, "split": {"train_end": "2020-01-01"}}',
    )
    assert proc.returncode == 0, proc.stderr
    post = posted(gateway)
    assert post["path"] == "/api/v1/runs"
    assert post["body"] == {
        "dataset_id": "ds-1",
        "algorithm": "ppo",
        "total_timesteps": 100000,
        "seed": 42,
        "env": {"window": 32, "cost_bps": 5},
        "split": {"train_end": "2020-01-01"},
    }


def test_tune_body_is_a_study_create(templates: dict, gateway: FakeGateway) -> None:
    """workflow-tune posts to the real route a body the tuning service's schema accepts as is
    (defaults and an EXTRA with objective, search space, sampler, env and split); a study is
    `waiting` while its trials train, and the workflow keeps polling."""
    from tradeopt_tuning.routes.studies import router
    from tradeopt_tuning.schemas import StudyCreate

    gateway.statuses = ["queued", "waiting", "running", "waiting", "succeeded"]
    extra = {
        "objective": {"metric": "sortino", "direction": "maximize"},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
        },
        "sampler": "random",
        "env": {"window": 16},
        "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
    }
    dataset_id = "7d4c1a52-3f0e-4e7b-9b5a-0c1d2e3f4a5b"
    proc = run_template(
        templates["workflow-tune"], gateway, DATASET_ID=dataset_id, EXTRA=json.dumps(extra)
    )
    assert proc.returncode == 0, proc.stderr
    post = posted(gateway)
    assert post["path"] == router.prefix == "/api/v1/studies"
    assert post["headers"]["Idempotency-Key"] == "workflow-job-1"
    body = post["body"]
    study = StudyCreate.model_validate(body)  # the route's own schema, unchanged
    assert study.model_dump(mode="json", include=set(body)) == body
    assert body == {
        "dataset_id": dataset_id,
        "algorithm": "ppo",
        "n_trials": 20,
        "parallelism": 2,
        "timesteps_per_trial": 50000,
        "seed": 42,
        **extra,
    }
    gets = [c["path"] for c in gateway.calls if c["method"] == "GET"]
    assert gets == ["/api/v1/studies/res-1"] * 5  # until the end, through waiting
    assert json.loads(proc.stdout)["status"] == "succeeded"
    # the defaults alone make a valid study too
    gateway.calls.clear()
    gateway.statuses = ["succeeded"]
    proc = run_template(templates["workflow-tune"], gateway, DATASET_ID=dataset_id)
    assert proc.returncode == 0, proc.stderr
    StudyCreate.model_validate(posted(gateway)["body"])


def test_train_requires_a_dataset(templates: dict, gateway: FakeGateway) -> None:
    proc = run_template(templates["workflow-train"], gateway)
    assert proc.returncode != 0
    assert "DATASET_ID" in proc.stderr
    assert not gateway.calls


@pytest.mark.parametrize(
    ("overrides", "subject"),
    [
        ({"MODEL_ID": "m-1"}, {"model_id": "m-1"}),
        ({"BASELINE": "buy_and_hold"}, {"baseline": "buy_and_hold"}),
    ],
)
def test_backtest_body_follows_the_contract(
    templates: dict, gateway: FakeGateway, overrides: dict[str, str], subject: dict[str, str]
) -> None:
    proc = run_template(templates["workflow-backtest"], gateway, DATASET_ID="ds-1", **overrides)
    assert proc.returncode == 0, proc.stderr
    post = posted(gateway)
    assert post["path"] == "/api/v1/evaluations"
    assert post["body"] == {**subject, "dataset_id": "ds-1", "split": "test", "cost_bps": 5}


def test_backtest_needs_a_model_or_baseline(templates: dict, gateway: FakeGateway) -> None:
    proc = run_template(templates["workflow-backtest"], gateway, DATASET_ID="ds-1")
    assert proc.returncode == 2
    assert not gateway.calls


def test_failed_job_fails_the_workflow(templates: dict, gateway: FakeGateway) -> None:
    gateway.statuses = ["running", "failed"]
    proc = run_template(templates["workflow-train"], gateway, DATASET_ID="ds-1")
    assert proc.returncode == 1
    assert '"status": "failed"' in proc.stderr


def test_rejected_request_fails_without_polling(templates: dict, gateway: FakeGateway) -> None:
    gateway.post_status = 422
    proc = run_template(templates["workflow-train"], gateway, DATASET_ID="ds-1")
    assert proc.returncode == 2
    assert "-> 422" in proc.stderr
    assert [c["method"] for c in gateway.calls] == ["POST"]


def test_timeout(templates: dict, gateway: FakeGateway) -> None:
    gateway.statuses = ["running"]
    proc = run_template(
        templates["workflow-train"], gateway, DATASET_ID="ds-1", TIMEOUT_SECONDS="1"
    )
    assert proc.returncode == 1
    assert "timed out" in proc.stderr
