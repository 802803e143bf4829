"""Prometheus metrics of the training service (DESIGN §8)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: Worker: environment steps per second of the runs it is training, by algorithm.
STEPS_PER_SECOND = Gauge(
    "tradeopt_training_steps_per_second",
    "Training throughput (environment steps per second) of the latest progress report.",
    ["algorithm"],
)
#: API: runs by status (refreshed in the background from the database).
RUNS = Gauge("tradeopt_training_runs", "Training runs by status.", ["status"])


class CheckpointAge(Collector):
    """``tradeopt_training_checkpoint_age_seconds{run_id}``: seconds since a running run's last
    checkpoint reached object storage (from the run's start until its first one).
    """

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, run_id: str) -> None:
        """A checkpoint of ``run_id`` was stored now (also call when a run starts)."""
        with self._lock:
            self._last[run_id] = time.time()

    def forget(self, run_id: str) -> None:
        """The run ended on this worker."""
        with self._lock:
            self._last.pop(run_id, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Prometheus collector protocol."""
        family = GaugeMetricFamily(
            "tradeopt_training_checkpoint_age_seconds",
            "Seconds since the last checkpoint of each running training run.",
            labels=["run_id"],
        )
        now = time.time()
        with self._lock:
            for run_id, at in self._last.items():
                family.add_metric([run_id], now - at)
        yield family


CHECKPOINT_AGE = CheckpointAge()
REGISTRY.register(CHECKPOINT_AGE)
