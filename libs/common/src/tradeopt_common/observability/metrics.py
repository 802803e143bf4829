"""Every Prometheus metric tradeopt declares (``tradeopt_<area>_<name>_<unit>``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_STARTED = Counter("tradeopt_jobs_started_total", "Job attempts claimed by a worker.", ["kind"])
JOBS_FINISHED = Counter(
    "tradeopt_jobs_finished_total", "Jobs that ended, by final status.", ["kind", "status"]
)
JOB_DURATION = Histogram(
    "tradeopt_job_duration_seconds",
    "Wall time of one job attempt.",
    ["kind", "status"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400),
)
JOBS_REAPED = Counter(
    "tradeopt_jobs_reaped_total", "Reaper actions, by outcome.", ["kind", "outcome"]
)
JOBS_QUEUED = Gauge("tradeopt_jobs_queued", "Jobs waiting in state queued.", ["kind"])
JOBS_RUNNING = Gauge("tradeopt_jobs_running", "Jobs in state running.", ["kind"])
JOBS_WAITING = Gauge(
    "tradeopt_jobs_waiting", "Parent jobs parked in state waiting on their children.", ["kind"]
)
JOB_HEARTBEAT_AGE = Gauge(
    "tradeopt_job_heartbeat_age_seconds", "Age of the oldest heartbeat among running jobs."
)
