"""The strategy worker's Celery tasks: one per job body registered in
:mod:`tradeopt_strategy.jobs` (imported only by the worker; APIs publish by task name).
"""

from __future__ import annotations

from tradeopt_common.jobs.names import Queue
from tradeopt_common.jobs.runner import celery_tasks
from tradeopt_strategy import jobs  # noqa: F401 - registers the job bodies
from tradeopt_strategy.worker import celery_app

TASKS = celery_tasks(celery_app, Queue.STRATEGY)
