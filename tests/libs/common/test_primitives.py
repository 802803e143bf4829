"""Unit tests of small pieces: cursors, API key format, scopes, task routing."""

import uuid
from datetime import UTC, datetime

import pytest

from tradeopt_common.auth.keys import Principal, Scope, generate_key, hash_key, parse_prefix
from tradeopt_common.db.repository import decode_cursor, encode_cursor
from tradeopt_common.errors import ValidationFailed
from tradeopt_common.jobs.names import Queue, TaskName, job_ended_task, queue_for

pytestmark = pytest.mark.unit


def test_cursor_round_trip():
    when, id_ = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(when, id_)) == (when, id_)


@pytest.mark.parametrize("bad", ["", "x", "!!!!", "bm90IGpzb24", "WyJhIiwgImIiXQ"])
def test_bad_cursor_is_a_validation_error(bad):
    with pytest.raises(ValidationFailed):
        decode_cursor(bad)


def test_generated_keys_parse_and_hash():
    key, prefix = generate_key()
    assert key.startswith("to_")
    assert parse_prefix(key) == prefix
    assert len(hash_key(key)) == 64
    assert hash_key(key) != hash_key(key + "x")
    other, other_prefix = generate_key()
    assert other != key
    assert other_prefix != prefix


@pytest.mark.parametrize(
    "bad", ["", "to_", "to_short_x", "xx_abcdefabcdef_secret", "to_abcdefabcdef_"]
)
def test_malformed_keys_have_no_prefix(bad):
    assert parse_prefix(bad) is None


def test_scopes_are_ordered():
    reader = Principal("1", "r", frozenset({Scope.READ}))
    writer = Principal("2", "w", frozenset({Scope.WRITE}))
    admin = Principal("3", "a", frozenset({Scope.ADMIN}))
    assert reader.has(Scope.READ)
    assert not reader.has(Scope.WRITE)
    assert writer.has(Scope.READ)
    assert writer.has(Scope.WRITE)
    assert not writer.has(Scope.ADMIN)
    assert admin.has(Scope.READ)
    assert admin.has(Scope.ADMIN)


def test_tasks_route_to_their_service_queue():
    assert queue_for(TaskName.DATA_INGEST_BARS) == Queue.DATA
    assert queue_for(TaskName.JOBS_REAP_STALE) == Queue.MAINTENANCE
    assert queue_for(job_ended_task("data")) == "data"
