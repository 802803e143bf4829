"""The tuning worker's Celery tasks: one per job body registered in :mod:`tradeopt_tuning.jobs`
(imported only by the worker; APIs publish by task name).
"""

from __future__ import annotations

from tradeopt_common.jobs.names import Queue
from tradeopt_common.jobs.runner import celery_tasks
from tradeopt_tuning import jobs, walkforward  # noqa: F401 - registers the job bodies
from tradeopt_tuning.worker import celery_app

TASKS = celery_tasks(celery_app, Queue.TUNING)
