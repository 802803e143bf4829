"""A run's progress events carry the recent episode reward, as the README promises for
``GET /api/v1/runs/<id>/events`` (hardening item 25; on c20e05e the messages were only
"N/M timesteps, S steps/s, ETA"). The job's progress messages are what the event stream sends.
"""

from __future__ import annotations

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
RUN = {
    "algorithm": "ppo",
    "total_timesteps": 1024,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
}


async def test_run_progress_events_carry_the_episode_reward(client, training_client, monkeypatch):
    from tradeopt_common.jobs import runner

    messages: list[str] = []
    original = runner.JobContext.progress

    def recording(self, fraction, message=None, *args, **kwargs):
        if message:
            messages.append(message)
        return original(self, fraction, message, *args, **kwargs)

    monkeypatch.setattr(runner.JobContext, "progress", recording)
    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    run = (await training_client.post("/api/v1/runs", json={"dataset_id": spy["id"], **RUN})).json()
    job = await run_job(training_client, run["job_id"])
    assert job["status"] == "succeeded", job
    training = [m for m in messages if "timesteps" in m]
    assert training, messages
    assert any("reward" in m for m in training), training
