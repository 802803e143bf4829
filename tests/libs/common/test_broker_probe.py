"""The create routes' broker probe (``BrokerProbe``): a refused connection is "down" at once, a
ping that misses its timeout once (this process's loop paused, Redis fine) is asked again
instead of answering a client 503, and a Redis that never answers is "down" after its attempts.
"""

from __future__ import annotations

import asyncio

import pytest

from tradeopt_common.web.state import BrokerProbe

pytestmark = pytest.mark.unit


class _Redis:
    """Answers ``PING`` after the given delays (seconds), or raises what it is given."""

    def __init__(self, *answers: float | Exception) -> None:
        self.answers = list(answers)
        self.pings = 0

    async def ping(self) -> bool:
        answer = self.answers[min(self.pings, len(self.answers) - 1)]
        self.pings += 1
        if isinstance(answer, Exception):
            raise answer
        await asyncio.sleep(answer)
        return True


async def test_one_late_answer_is_asked_again_not_a_503() -> None:
    redis = _Redis(0.2, 0.0)
    assert await BrokerProbe(redis, timeout=0.05).available()  # type: ignore[arg-type]
    assert redis.pings == 2


async def test_a_refused_connection_is_down_at_once() -> None:
    redis = _Redis(ConnectionRefusedError(111, "refused"))
    assert not await BrokerProbe(redis, timeout=0.05).available()  # type: ignore[arg-type]
    assert redis.pings == 1


async def test_a_redis_that_never_answers_is_down_after_its_attempts() -> None:
    redis = _Redis(0.2)
    probe = BrokerProbe(redis, timeout=0.05, ttl=60)  # type: ignore[arg-type]
    assert not await probe.available()
    assert redis.pings == 2
    assert not await probe.available()  # the answer is kept for ttl: no third ping
    assert redis.pings == 2
