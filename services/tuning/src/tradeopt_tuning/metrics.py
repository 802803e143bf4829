"""Prometheus metrics of the tuning service (DESIGN §8).

The API refreshes the gauges from the database in the background (every API replica reports the
same values: aggregate with ``max``); the worker counts what its study steps do.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: API: studies by status (refreshed in the background from the database).
STUDIES = Gauge("tradeopt_tuning_studies", "Tuning studies by status.", ["status"])
#: API: trials by state over every study (refreshed in the background from the database).
TRIALS = Gauge("tradeopt_tuning_trials", "Tuning trials by state.", ["state"])
#: API: per active (queued, running or waiting) study, seconds since its last progress — a trial
#: started or ended, or else the study started (or was created). Drives the
#: ``TradeoptStudyNoProgress`` alert; series of ended studies are removed.
STUDY_IDLE = Gauge(
    "tradeopt_tuning_study_idle_seconds",
    "Seconds since an active study's last trial started or ended.",
    ["study_id"],
)
#: Worker: trials that ended, by state (``rate(...) * 60``: trials per minute).
TRIALS_ENDED = Counter(
    "tradeopt_tuning_trials_ended_total", "Trials that ended, by final state.", ["state"]
)
#: Worker: wall time of studies from start to their end in a study step, by final status
#: (``succeeded``, ``failed``; a study canceled through the API ends outside the worker).
STUDY_DURATION = Histogram(
    "tradeopt_tuning_study_duration_seconds",
    "Wall time of a study from its start to its end.",
    ["status"],
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200),
)
