"""Progress bars for in-process jobs.

Jobs publish their progress through the job runtime (``runtime.redis.publish``; in the fleet that
is Redis pub/sub). :class:`ProgressRuntime` is a :class:`JobRuntime` whose publisher hands those
same events to a callback instead, so the pipeline's bars move with the very job code the
workers run, without a Redis server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tradeopt_common.config import CommonSettings
from tradeopt_common.jobs.runtime import JobRuntime

#: ``(job_id, progress or None, message or None)``.
EventCallback = Callable[[str, float | None, str | None], None]


class _Publisher:
    """Stands in for the Redis client: ``publish(channel, payload)`` → callback."""

    def __init__(self, callback: EventCallback) -> None:
        self.callback = callback

    def publish(self, channel: str, payload: str) -> int:
        event: dict[str, Any] = json.loads(payload)
        self.callback(str(event.get("job_id")), event.get("progress"), event.get("message"))
        return 1


class ProgressRuntime(JobRuntime):
    """A job runtime whose live events go to ``callback`` (no Redis)."""

    def __init__(self, settings: CommonSettings, callback: EventCallback) -> None:
        self._callback = callback
        super().__init__(settings)

    @cached_property
    def redis(self) -> Any:  # type: ignore[override]
        """The in-process publisher."""
        return _Publisher(self._callback)


class StepBars:
    """One rich progress bar per pipeline step; job events move the current step's bar."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<34}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self._current: TaskID | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> StepBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, description: str) -> TaskID:
        """A new bar that job events now update."""
        with self._lock:
            task = self.progress.add_task(description, total=1.0, note="")
            self._current = task
            return task

    def done(self, task: TaskID, note: str = "") -> None:
        """Fill the bar and leave a short note next to it."""
        with self._lock:
            self.progress.update(task, completed=1.0, note=note)
            if self._current == task:
                self._current = None

    def on_event(self, job_id: str, fraction: float | None, message: str | None) -> None:
        """The runtime callback: progress and message of the running job."""
        with self._lock:
            if self._current is None:
                return
            fields: dict[str, Any] = {}
            if fraction is not None:
                fields["completed"] = max(0.0, min(1.0, float(fraction)))
            if message:
                fields["note"] = message[:60]
            if fields:
                self.progress.update(self._current, **fields)
