"""Defect #12b at the services (issue 16): a dataset can be deleted while a run referencing it is
being created.

Main-side test: tests/libs/common/test_reference_deletion_race.py (primitive level; mirrored in
test_d12b_reference_deletion_race.py). This file is NOT in main: it is the same race through
c20e05e's real service functions — ``tradeopt_training.service.create_run`` (transaction still
open) and ``tradeopt_data.service.delete_dataset`` in a second transaction — to show the
primitive-level failure is the user-visible defect. Expected: the deletion waits for the run's
commit and answers 409 (dataset in use), or the run's creation fails. Expected on c20e05e: the
deletion neither waits nor sees the run; both commit; the run refers to a deleted dataset.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.jobrun import ingest

pytestmark = pytest.mark.integration
BODY = {
    "algorithm": "ppo",
    "total_timesteps": 512,
    "seed": 11,
    "hyperparams": {"n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "env": {"window": 8, "episode_length": 128, "features": {"features": ["log_return", "rsi"]}},
    "split": {"train_end": "2015-12-31", "validation_end": "2019-12-31"},
}


class RecordingDispatcher:
    def send(self, job_id: str, task_name: str, queue: str, task_id: str | None = None) -> None:
        pass


async def test_a_dataset_cannot_be_deleted_under_a_run_being_created(
    client, data_app, training_client, training_app
):
    from tradeopt_data import service as data_service
    from tradeopt_training import service as training_service
    from tradeopt_training.schemas import RunCreate

    spy = await ingest(client, {"source": "sample", "symbol": "SPY"})
    dataset_id = uuid.UUID(spy["id"])
    tstate, dstate = training_app.state.tradeopt, data_app.state.tradeopt
    outcome: dict = {}

    async def delete() -> None:
        try:
            async with dstate.db.unit_of_work() as s:
                await data_service.delete_dataset(s, dstate.store, dataset_id)
            outcome["deleted"] = True
        except Exception as exc:  # main: 409 DatasetStateConflict naming the run
            outcome["deleted"] = False
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    run_error = None
    try:
        async with tstate.db.unit_of_work() as s:
            run = await training_service.create_run(
                s,
                tstate.store,
                RecordingDispatcher(),
                RunCreate.model_validate({"dataset_id": spy["id"], **BODY}),
                torch_threads=1,
                max_timesteps=10_000,
                created_by=None,
                max_attempts=3,
            )
            deleter = asyncio.create_task(delete())
            await asyncio.sleep(0.5)
            waited = not deleter.done()
    except Exception as exc:
        run_error = exc
    await deleter
    dataset_now = (await client.get(f"/api/v1/datasets/{dataset_id}")).status_code
    run_now = (await training_client.get(f"/api/v1/runs/{run.id}")).status_code
    assert not (outcome["deleted"] and run_error is None), (
        f"dataset deleted (GET -> {dataset_now}) while run {run.id} was created on it "
        f"(GET run -> {run_now}); the deletion waited for the run's commit: {waited}"
    )
