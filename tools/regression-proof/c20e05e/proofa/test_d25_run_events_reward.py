"""Defect #25 sub-point "the run event stream lacks the reward the README promises" (README:
`GET /api/v1/runs/<id>/events  # progress: steps/s, ETA, reward`).

Main-side test: none found (main's fix a8f2be2 adds ", recent episode reward X" to the training
job's progress message, which is what the run's SSE stream carries as the job record's
`message`, but no test checks it). Smallest test, runs on both trees: a small PPO run executed
in-process through the job protocol, with JobContext.progress wrapped to record every progress
message the job sends (the stream's `message`); at least one must name the episode reward.

On c20e05e: the messages are only "N/M timesteps, S steps/s, ETA Es" (the reward is only in the
run's `live` field, never in the event stream).
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


async def test_d25e_run_progress_events_carry_the_episode_reward(
    client, training_client, monkeypatch
):
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
