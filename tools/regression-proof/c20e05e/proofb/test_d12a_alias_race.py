"""Defect #12a (issue 16): two concurrent PATCHes can give one alias to two models.

Mirrors (main): tests/services/training/test_runs_api.py::test_model_stages_and_aliases_keep_history
(the "Hardening item 12" block: 8 rounds of 4 concurrent PATCHes for one alias, every answer 200,
exactly one holder afterwards).

Adapted to c20e05e: the run body is c20's SMALL (c20 has no tests/support/runs.small_ppo); the two
models are trained in-process exactly as in c20's own test; the serial stage/alias checks before
the race block are dropped (they passed on c20). Expected on c20e05e: an alias held by two models
after a round, or a 500 (deadlock) among the answers.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.jobrun import ingest, run_job

pytestmark = pytest.mark.integration
SMALL = {
    "algorithm": "ppo",
    "total_timesteps": 512,
    "seed": 11,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
    "checkpoint_every": 256,
    "eval_every": None,
}


@pytest.fixture
async def spy(client) -> dict:
    return await ingest(client, {"source": "sample", "symbol": "SPY"})


async def _two_models(training_client, spy) -> tuple[str, str]:
    ids = []
    for seed in (1, 2):
        body = {"dataset_id": spy["id"], **SMALL, "seed": seed}
        run = (await training_client.post("/api/v1/runs", json=body)).json()
        assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
        ids.append((await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"])
    return ids[0], ids[1]


async def test_two_concurrent_patches_leave_one_holder(training_client, spy):
    """Not in main (a narrower variant of its block): one PATCH per model per round, so the two
    requests cannot deadlock on the same row; shows the 'one alias on two models' outcome.
    """
    first, second = await _two_models(training_client, spy)
    outcomes = []
    for round_ in range(8):
        alias = f"pair-{round_}"
        answers = await asyncio.gather(
            *(
                training_client.patch(f"/api/v1/models/{m}", json={"aliases": [alias]})
                for m in (first, second)
            ),
            return_exceptions=True,
        )
        codes = [
            type(a).__name__ if isinstance(a, BaseException) else a.status_code for a in answers
        ]
        holders = (await training_client.get("/api/v1/models", params={"alias": alias})).json()
        outcomes.append((alias, codes, len(holders["items"])))
    bad = [o for o in outcomes if o[1] != [200, 200] or o[2] != 1]
    assert not bad, f"(alias, answers, number of holders) per bad round: {bad}"


async def test_concurrent_alias_patches_leave_one_holder(training_client, spy):
    ids = []
    for seed in (1, 2):
        body = {"dataset_id": spy["id"], **SMALL, "seed": seed}
        run = (await training_client.post("/api/v1/runs", json=body)).json()
        assert (await run_job(training_client, run["job_id"]))["status"] == "succeeded"
        ids.append((await training_client.get(f"/api/v1/runs/{run['id']}")).json()["model_id"])
    first, second = ids
    for round_ in range(8):
        alias = f"race-{round_}"
        answers = await asyncio.gather(
            *(
                training_client.patch(f"/api/v1/models/{m}", json={"aliases": [alias]})
                for m in (first, second, first, second)
            ),
            return_exceptions=True,  # ASGITransport re-raises an unhandled app error (a 500)
        )
        codes = [
            f"500 {type(a).__name__}: {str(a).splitlines()[0][:80]}"
            if isinstance(a, BaseException)
            else a.status_code
            for a in answers
        ]
        holders = (await training_client.get("/api/v1/models", params={"alias": alias})).json()
        held_by = [m["id"] for m in holders["items"]]
        assert codes == [200] * 4 and len(held_by) == 1, (alias, codes, "holders:", held_by)
