"""A run's checkpoints in object storage (DESIGN §7), as the training job writes them and the API
lists and serves them (``GET /api/v1/runs/{id}/checkpoints`` and ``…/checkpoints/{step}``).

Layout: ``runs/{run_id}/checkpoints/{timesteps:012d}/…`` (the SB3 model zip, its VecNormalize
statistics and the job's state), with a ``COMPLETE`` marker written last, so a half-uploaded
checkpoint is never resumed from nor listed. The job keeps the newest ``KEEP_CHECKPOINTS``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ObjectInfo

#: The marker object written last into a checkpoint's folder.
COMPLETE = "COMPLETE"
#: Checkpoints kept in object storage per run (older ones are deleted after a new one lands).
KEEP_CHECKPOINTS = 2


def checkpoints_prefix(run_id: uuid.UUID) -> str:
    """Prefix of a run's checkpoints."""
    return f"runs/{run_id}/checkpoints/"


def checkpoint_prefix(run_id: uuid.UUID, step: int) -> str:
    """Prefix of the checkpoint at ``step`` timesteps."""
    return f"{checkpoints_prefix(run_id)}{step:012d}/"


def complete_checkpoints(store: ArtifactStore, run_id: uuid.UUID) -> list[int]:
    """Timesteps of the complete checkpoints of a run, ascending."""
    return [c.step for c in _group(run_id, store.list(checkpoints_prefix(run_id)))]


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint: its step, when it was completed and its files."""

    step: int
    completed_at: datetime
    files: list[ObjectInfo] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes of its files (the marker excluded)."""
        return sum(f.size for f in self.files)


def list_checkpoints(store: ArtifactStore, run_id: uuid.UUID) -> list[Checkpoint]:
    """The run's complete checkpoints, ascending by step (one listing of its prefix)."""
    return _group(run_id, store.list(checkpoints_prefix(run_id)))


def _group(run_id: uuid.UUID, objects: Iterable[ObjectInfo]) -> list[Checkpoint]:
    prefix = checkpoints_prefix(run_id)
    files: dict[int, list[ObjectInfo]] = {}
    markers: dict[int, ObjectInfo] = {}
    for obj in objects:
        step, _, name = obj.key[len(prefix) :].partition("/")
        if not step.isdigit() or not name:
            continue
        if name == COMPLETE:
            markers[int(step)] = obj
        else:
            files.setdefault(int(step), []).append(obj)
    return [
        Checkpoint(
            step, markers[step].last_modified, sorted(files.get(step, []), key=lambda o: o.key)
        )
        for step in sorted(markers)
    ]
