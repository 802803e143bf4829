"""Hardening item 10: a job's calls to the training service survive the service being down for
a few seconds (a restart, a rolling deploy): connection errors and 5xx are retried, a client
error is answered at once. The training API is a real uvicorn process that starts late (or a
mock transport that answers 5xx first)."""

from __future__ import annotations

import sys
import threading
import time
import uuid

import httpx
import pytest

from tests.conftest import API_KEY, REDIS_URL
from tests.support.live import fuzz_env
from tests.support.processes import ManagedProcess, free_port
from tradeopt_common.clients.training import TrainingClient, TrainingRefused
from tradeopt_common.errors import ServiceUnavailable

pytestmark = pytest.mark.integration


def test_calls_wait_for_a_training_api_that_comes_back(pg_url, s3_server, tmp_path):
    port = free_port()
    client = TrainingClient(f"http://127.0.0.1:{port}", API_KEY, retry_delays=(0.5,) * 120)
    outcome: dict[str, object] = {}

    def call() -> None:
        start = time.monotonic()
        try:
            client.get_run(str(uuid.uuid4()))
        except Exception as exc:  # the test inspects which error it was
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - start

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(1.5)  # the caller has met "connection refused" a few times by now
    assert caller.is_alive()
    env = fuzz_env(pg_url, REDIS_URL, s3_server, tmp_path, API_KEY)
    argv = [sys.executable, "-m", "uvicorn", "tradeopt_training.app:create_app", "--factory"]
    server = ManagedProcess(
        "training-api", [*argv, "--host", "127.0.0.1", "--port", str(port)], env, tmp_path
    ).start()
    try:
        caller.join(timeout=90)
        assert not caller.is_alive(), server.log()[-2000:]
    finally:
        server.stop()
        client.close()
    # the unknown run is a client error, answered as soon as the API was up: not retried
    assert isinstance(outcome["error"], TrainingRefused), outcome
    assert outcome["seconds"] > 1.5


def test_a_training_api_that_stays_down_is_a_service_unavailable_after_the_retries():
    client = TrainingClient(f"http://127.0.0.1:{free_port()}", API_KEY, retry_delays=(0.1, 0.2))
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        client.get_run(str(uuid.uuid4()))
    assert time.monotonic() - start >= 0.3
    client.close()


def test_a_5xx_answer_is_retried_until_the_training_api_answers():
    """Item 10: a 5xx (an API restarting behind its proxy) was raised at once; it is retried
    like a connection error, and the answer that follows is used."""
    answers = iter([503, 502, 200])
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        seen.append(status)
        if status == 200:
            return httpx.Response(200, json={"id": "r1", "status": "running"})
        return httpx.Response(status, text="restarting")

    client = TrainingClient("http://training.test", API_KEY, retry_delays=(0.01, 0.01, 0.01))
    client.http.close()
    client.http = httpx.Client(
        base_url="http://training.test", transport=httpx.MockTransport(handler)
    )
    try:
        assert client.get_run("r1")["status"] == "running"
    finally:
        client.close()
    assert seen == [503, 502, 200]
