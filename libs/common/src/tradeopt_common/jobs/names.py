"""Task names and queues: the only coupling between an API that enqueues and a worker that runs.

Task names are ``<svc>.<verb>[_<noun>]``; the queue is the service name.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """One queue per service, plus ``maintenance`` (the reaper) consumed by every worker."""

    DATA = "data"
    TRAINING = "training"
    TUNING = "tuning"
    EVALUATION = "evaluation"
    STRATEGY = "strategy"
    MAINTENANCE = "maintenance"


class TaskName(StrEnum):
    """Every task in the fleet, by name."""

    DATA_INGEST_BARS = "data.ingest_bars"
    DATA_BUILD_FEATURES = "data.build_features"
    TRAINING_TRAIN_RUN = "training.train_run"
    TUNING_RUN_STUDY = "tuning.run_study"
    TUNING_OPTIMIZE_WALK_FORWARD = "tuning.optimize_walk_forward"
    EVALUATION_EVALUATE = "evaluation.evaluate"
    EVALUATION_WALK_FORWARD = "evaluation.walk_forward"
    STRATEGY_REPLAY_SESSION = "strategy.replay_session"
    JOBS_REAP_STALE = "jobs.reap_stale"


def queue_for(task_name: str) -> str:
    """The queue a task goes to: the prefix of its name (``data.ingest_bars`` → ``data``)."""
    if task_name == TaskName.JOBS_REAP_STALE:
        return Queue.MAINTENANCE
    return task_name.split(".", 1)[0]


def job_ended_task(queue: str) -> str:
    """The per-service task that runs end hooks (e.g. mark a dataset failed) for a job that was
    ended outside its worker (reaper, cancel of a queued job).
    """
    return f"{queue}.job_ended"
