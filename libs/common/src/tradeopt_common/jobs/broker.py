"""What the Redis broker still holds, so the reaper re-publishes only what was really lost."""

from __future__ import annotations

import json

import redis

from tradeopt_common.logging import get_logger

log = get_logger(__name__)

#: kombu's Redis transport keeps priority sub-queues under these suffixes (priority_steps).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_UNACKED_KEY = "unacked"


def _task_id(raw: bytes | str) -> str | None:
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if isinstance(message, list):  # unacked entries are [message, exchange, routing_key]
        message = message[0] if message else {}
    headers = message.get("headers") or {}
    return headers.get("id") or (message.get("properties") or {}).get("correlation_id")


def task_ids_in_broker(client: redis.Redis, queues: list[str]) -> set[str] | None:
    """Task ids waiting in ``queues`` or delivered but unacknowledged. ``None`` if the broker
    cannot be read (the reaper then re-sends anyway; claims are idempotent).
    """
    try:
        ids: set[str] = set()
        for queue in queues:
            for suffix in _PRIORITY_SUFFIXES:
                for raw in client.lrange(queue + suffix, 0, -1):
                    if tid := _task_id(raw):
                        ids.add(tid)
        for raw in client.hvals(_UNACKED_KEY):
            if tid := _task_id(raw):
                ids.add(tid)
        return ids
    except redis.RedisError as exc:
        log.warning("reaper.broker_unreadable", error=str(exc))
        return None
