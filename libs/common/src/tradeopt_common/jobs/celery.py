"""The Celery app factory every worker, the beat and the API producers use."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

from tradeopt_common.config import CommonSettings, get_settings
from tradeopt_common.jobs.names import Queue, TaskName, job_ended_task
from tradeopt_common.logging import configure_logging, get_logger

log = get_logger(__name__)


def celery_config(settings: CommonSettings, default_queue: str) -> dict[str, Any]:
    """Settings for long, crash-safe jobs (DESIGN §4, STYLE §3.5.9)."""
    return {
        "broker_url": settings.redis_uri,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # Redis re-delivers an unacked message after the visibility timeout: keep it above the
        # longest job. Jobs whose worker dies sooner are recovered by the reaper.
        "broker_transport_options": {"visibility_timeout": settings.broker_visibility_timeout},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": default_queue,
        "task_create_missing_queues": True,
        "task_routes": {TaskName.JOBS_REAP_STALE.value: {"queue": Queue.MAINTENANCE.value}},
        # SIGTERM is remapped to SIGQUIT (env REMAP_SIGTERM): a soft shutdown lets running tasks
        # finish for this long, then unacked messages go back to the queue.
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_seconds,
        "worker_enable_soft_shutdown_on_idle": False,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "timezone": "UTC",
        "enable_utc": True,
    }


def make_celery(
    service: str, settings: CommonSettings | None = None, include: list[str] | None = None
) -> Celery:
    """A Celery app for ``service`` whose default queue is the service's own.

    Workers import the app from ``tradeopt_<svc>.worker``; APIs use one only to ``send_task``.
    The reaper task is always included, so every worker can run it from ``maintenance``.
    Workers must be started with ``REMAP_SIGTERM=SIGQUIT`` in their environment (billiard reads
    it when Celery is imported, so it cannot be set from here); :func:`_check_sigterm_remap`
    warns when it is missing.
    """
    settings = settings or get_settings()
    app = Celery(
        f"tradeopt-{service}",
        include=["tradeopt_common.jobs.reaper", *(include or [])],
    )
    app.conf.update(celery_config(settings, default_queue=service))

    @app.task(name=job_ended_task(service), ignore_result=True)
    def job_ended(job_id: str) -> bool:
        """Run the end hook of a job ended by the reaper or by a cancel while queued."""
        from tradeopt_common.jobs.runner import run_end_hook

        return run_end_hook(job_id)

    return app


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    """Use our structlog setup in workers and beat instead of Celery's."""
    s = get_settings()
    configure_logging(
        s.log_level,
        s.log_json,
        log_file=s.log_file,
        max_bytes=s.log_file_max_bytes,
        backups=s.log_file_backups,
    )


@signals.worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    """A forked pool child must build its own loop, engine and clients."""
    from tradeopt_common.jobs.runtime import reset_runtime

    reset_runtime()


@signals.worker_init.connect
def _check_sigterm_remap(**_: Any) -> None:
    """Warn when SIGTERM would not start a soft shutdown (env ``REMAP_SIGTERM=SIGQUIT``)."""
    from billiard.common import REMAP_SIGTERM

    if REMAP_SIGTERM != "SIGQUIT":
        log.warning(
            "worker.sigterm_not_remapped",
            hint="start workers with REMAP_SIGTERM=SIGQUIT so SIGTERM begins a soft shutdown",
            current=os.environ.get("REMAP_SIGTERM"),
        )


@signals.worker_init.connect
def _start_metrics_server(**_: Any) -> None:
    """Expose this worker's Prometheus metrics on ``TRADING_OPT_WORKER_METRICS_PORT``."""
    port = get_settings().worker_metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)
        log.info("worker.metrics_listening", port=port)
