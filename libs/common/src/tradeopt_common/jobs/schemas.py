"""Job representations on the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobRead(BaseModel):
    """A job as clients see it (DESIGN §4)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: str
    progress: float
    message: str | None
    attempts: int
    max_attempts: int
    worker: str | None
    cancel_requested: bool
    error: str | None
    result: dict[str, Any] | None
    resource_type: str | None
    resource_id: uuid.UUID | None
    created_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None = None
    parent_id: uuid.UUID | None = None
    wakeups: int = 0
    state: dict[str, Any] | None = None
    #: Intermediate reports (``{"step": n, ...}``, one per step, in order): a training run's
    #: periodic validation results while it runs (the dashboard's live validation curve).
    reports: list[dict[str, Any]] | None = None
