"""How a walk-forward job calls the training service (hardening item 10): with the internal
service key, never the bootstrap admin key, and a job that fails for good cancels the fold runs it
already started. The training API is a fake (a thread HTTP server) that records every call and
refuses the second fold run; the job runs in this process through the real job protocol."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import API_KEY, _clear_settings_caches
from tests.support.http_fake import JsonHandler, serving
from tests.support.jobrun import ingest, run_job
from tradeopt_common.auth.keys import service_key_for

pytestmark = pytest.mark.integration
RUN = {
    "algorithm": "a2c",
    "total_timesteps": 128,
    "seed": 3,
    "hyperparams": {"n_steps": 16},
    "env": {"window": 5, "episode_length": 64, "features": ["log_return"]},
}


class RefusingTraining:
    """A training API that accepts the first run, refuses (422) every later one, and records
    each request's ``Authorization`` header, the runs created and the runs canceled."""

    def __init__(self) -> None:
        self.auth: list[str] = []
        self.created: list[str] = []
        self.canceled: list[str] = []
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.body()
                fake.auth.append(self.headers.get("Authorization", ""))
                if self.path == "/api/v1/runs":
                    if fake.created:
                        self.reply(422, {"status": 422, "detail": "fold refused for the test"})
                        return
                    run_id = str(uuid.uuid4())
                    fake.created.append(run_id)
                    self.reply(202, {"id": run_id, "job_id": str(uuid.uuid4()), "status": "queued"})
                elif self.path.endswith("/cancel"):
                    fake.canceled.append(self.path.split("/")[-2])
                    self.reply(202, {})
                else:
                    self.reply(404, {"detail": "not in the fake"})

        self.handler = Handler


@pytest.fixture
def refusing_training(fleet_env, monkeypatch):
    """The fake training API, as ``TRADING_OPT_TRAINING_URL`` of the jobs run in this process."""
    from tradeopt_common.jobs.runtime import reset_runtime

    fake = RefusingTraining()
    with serving(fake.handler) as url:
        monkeypatch.setenv("TRADING_OPT_TRAINING_URL", url)
        _clear_settings_caches()
        reset_runtime()
        yield fake


async def _failed_walk_forward(client, evaluation_client) -> dict:
    """A walk-forward of three folds run to its end: the second fold's run is refused."""
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    resp = await evaluation_client.post(
        "/api/v1/evaluations/walk-forward",
        json={
            "dataset_id": spy["id"],
            "run": RUN,
            "folds": {"train_bars": 500, "test_bars": 100, "max_folds": 3},
        },
    )
    assert resp.status_code == 202, resp.text
    job = await run_job(evaluation_client, resp.json()["job_id"])
    assert job["status"] == "failed", job
    return job


async def test_a_walk_forward_that_fails_for_good_cancels_the_fold_runs_it_started(
    refusing_training, client, evaluation_client
):
    """Item 10: a failure other than a cancel (here a refused fold run) left the fold runs
    already created training for nothing."""
    job = await _failed_walk_forward(client, evaluation_client)
    assert "fold refused for the test" in job["error"], job
    assert len(refusing_training.created) == 1
    assert refusing_training.canceled == refusing_training.created, "fold run left training"


async def test_a_walk_forward_calls_the_training_api_with_the_service_key(
    refusing_training, client, evaluation_client
):
    """Item 10: walk-forward called the training service with the bootstrap admin key; internal
    calls use the least-scope service key (recorded as the creator of the runs)."""
    await _failed_walk_forward(client, evaluation_client)
    assert len(refusing_training.auth) >= 2  # both fold runs were asked for
    assert set(refusing_training.auth) == {f"Bearer {service_key_for(API_KEY)}"}
