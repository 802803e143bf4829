"""A live training API (uvicorn) with named Celery workers, all real processes on the test
database, Redis and S3 server: what the walk-forward and study tests run their parked parent
jobs against (the job in a worker calls the training API over HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.live import starting_api
from tests.support.processes import ManagedProcess, celery_worker, stop_all, wait_worker_ready

TRAINING_WORKER = "tradeopt_training.worker:celery_app"
TUNING_WORKER = "tradeopt_tuning.worker:celery_app"
EVALUATION_WORKER = "tradeopt_evaluation.worker:celery_app"


class Fleet:
    """The processes of :func:`live_training_fleet`: the training API's URL and named workers."""

    def __init__(self, training_url: str, env: dict[str, str], log_dir: Path) -> None:
        self.training_url, self.env, self.log_dir = training_url, env, log_dir
        self.workers: dict[str, ManagedProcess] = {}

    def spawn(
        self,
        app: str,
        queues: str,
        name: str,
        *,
        ready: bool = True,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        """Start worker ``name`` of ``app`` on ``queues`` (by default: wait until it is ready),
        with ``env`` added to the fleet's environment.
        """
        worker = celery_worker(app, queues, {**self.env, **(env or {})}, self.log_dir, name)
        worker.start()
        self.workers[name] = worker
        if ready:
            wait_worker_ready(worker)
        return worker


@contextmanager
def live_training_fleet(
    fleet_env: dict[str, str],
    log_dir: Path,
    workers: Iterable[tuple[str, str, str] | tuple[str, str, str, dict[str, str]]],
) -> Iterator[Fleet]:
    """A live training API and ``workers`` (``(app, queues, name[, extra env])``), all ready,
    until the block ends; the workers' settings point at the API and keep the evaluation
    statistics small.
    """
    api = starting_api("tradeopt_training.app:create_app", fleet_env, log_dir, "training-api")
    with api as (base, wait_api_up):
        env = {
            **fleet_env,
            "TRADING_OPT_TRAINING_URL": base,
            "TRADING_OPT_EVALUATION_RANDOM_SEEDS": "2",
            "TRADING_OPT_EVALUATION_BOOTSTRAP_RESAMPLES": "200",
        }
        fleet = Fleet(base, env, log_dir)
        try:
            # the API and the workers start together (a worker needs the API only in a job)
            for app, queues, name, *extra in workers:
                fleet.spawn(app, queues, name, ready=False, env=extra[0] if extra else None)
            wait_api_up()
            for worker in fleet.workers.values():
                wait_worker_ready(worker)
            yield fleet
        finally:
            stop_all(list(reversed(fleet.workers.values())))


async def until(
    predicate: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
