"""The fleet's single Celery beat: ``celery -A tradeopt_common.jobs.beat:celery_app beat``.

Schedules the reaper on the ``maintenance`` queue every ``TRADING_OPT_REAPER_INTERVAL_SECONDS``.
Run exactly one beat per fleet.
"""

from __future__ import annotations

from tradeopt_common.config import get_settings
from tradeopt_common.jobs.celery import make_celery
from tradeopt_common.jobs.names import Queue, TaskName

_settings = get_settings()
celery_app = make_celery("beat", _settings)
celery_app.conf.beat_schedule = {
    "reap-stale-jobs": {
        "task": TaskName.JOBS_REAP_STALE.value,
        "schedule": _settings.reaper_interval_seconds,
        # A pass nobody picked up in time is useless: the next one does the same work.
        "options": {"queue": Queue.MAINTENANCE.value, "expires": _settings.reaper_interval_seconds},
    }
}
