"""The job record (table ``core.job``).

A job may have a parent (``parent_id``): a job that started it and parks in ``waiting`` until its
children have ended (see :mod:`tradeopt_common.jobs.service`, "Parked parent jobs"). ``state`` is
the parent's checkpoint: the JSON it recorded when it parked, handed back when it resumes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tradeopt_common.db.base import Base, IdMixin, JSONType, TimestampMixin


class JobStatus(StrEnum):
    """``queued → running → succeeded | failed | canceled`` (running may go back to queued when
    its worker dies and the reaper re-enqueues it), plus ``running → waiting → queued`` for a
    parent parked on its children (it holds no worker; the end of its last child re-enqueues it).
    """

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
#: Statuses of a job that has not ended (what a parent waits on in its children).
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.WAITING})


class Job(IdMixin, TimestampMixin, Base):
    """One unit of long work. The Celery message carries only ``id``; everything else is here."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_status_heartbeat_at", "status", "heartbeat_at"),
        Index("ix_job_resource", "resource_type", "resource_id"),
        {"schema": "core"},
    )

    kind: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    worker: Mapped[str | None] = mapped_column(String(255))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    resource_type: Mapped[str | None] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID | None] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(64))
    enqueued_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core.job.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: When the job gives up (None: never): the reaper fails a queued/waiting job past it
    #: (cancelling its children) and asks a running one to stop.
    deadline_at: Mapped[datetime | None] = mapped_column()
    wakeups: Mapped[int] = mapped_column(default=0)
    #: Ended outside the process that knows its resource: the owning service's ``job_ended``
    #: handler has not mirrored the end yet (the reaper re-sends the notification meanwhile).
    end_pending: Mapped[bool] = mapped_column(default=False)
    #: Intermediate reports of the running job (``{"step": n, ...}``, one per step, in order):
    #: what a parent parked with ``wake="any"`` and ``reports_seen`` is woken by (a training
    #: run's evaluations, read by the tuning study's pruner).
    reports: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended."""
        return self.status in TERMINAL_STATUSES
