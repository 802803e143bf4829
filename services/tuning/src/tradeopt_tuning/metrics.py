"""Prometheus metrics of the tuning service (DESIGN §8)."""

from __future__ import annotations

from prometheus_client import Gauge

#: API: studies by status (refreshed in the background from the database).
STUDIES = Gauge("tradeopt_tuning_studies", "Tuning studies by status.", ["status"])
#: API: trials by state over every study (refreshed in the background from the database).
TRIALS = Gauge("tradeopt_tuning_trials", "Tuning trials by state.", ["state"])
