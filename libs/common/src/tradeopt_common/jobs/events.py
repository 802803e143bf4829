"""Live job updates over Redis pub/sub (the database stays the source of truth)."""

from __future__ import annotations

import json
from typing import Any

CHANNEL_PREFIX = "tradeopt:jobs:"


def channel(job_id: str) -> str:
    """The pub/sub channel of one job."""
    return f"{CHANNEL_PREFIX}{job_id}"


def encode(job_id: str, **fields: Any) -> str:
    """A compact event payload; subscribers re-read the job, so this is only a wake-up."""
    return json.dumps({"job_id": job_id, **fields}, default=str)
