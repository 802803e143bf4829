"""The training worker's Celery task for the job body registered in
:mod:`tradeopt_training.jobs` (imported only by the worker; APIs publish by task name).
"""

from __future__ import annotations

from tradeopt_common.jobs.names import Queue
from tradeopt_common.jobs.runner import celery_tasks
from tradeopt_training import jobs  # noqa: F401 - registers the job body
from tradeopt_training.worker import celery_app

TASKS = celery_tasks(celery_app, Queue.TRAINING)
