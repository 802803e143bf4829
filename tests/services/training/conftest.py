"""Fixtures of the training service tests."""

from __future__ import annotations

import pytest

from tests.support.processes import celery_worker, free_port, stop_all, wait_worker_ready

WORKER_APP = "tradeopt_training.worker:celery_app"


@pytest.fixture
def start_worker(fleet_env, log_dir):
    """``start_worker(name)`` starts a real training worker (``training,maintenance``), stopped
    at the end of the test."""
    started = []

    def _start(name: str = "training-worker"):
        env = {**fleet_env, "TRADING_OPT_WORKER_METRICS_PORT": str(free_port())}
        worker = celery_worker(WORKER_APP, "training,maintenance", env, log_dir, name=name)
        worker.metrics_url = f"http://127.0.0.1:{env['TRADING_OPT_WORKER_METRICS_PORT']}/metrics"
        worker.start()
        wait_worker_ready(worker)
        started.append(worker)
        return worker

    yield _start
    stop_all(started)
