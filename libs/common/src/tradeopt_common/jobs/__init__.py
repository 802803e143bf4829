"""Reliable jobs (DESIGN §4): job records in the database are the source of truth; Celery carries
only job ids. See ``service`` (state transitions), ``runner`` (the worker side), ``reaper``.
"""

from tradeopt_common.jobs.models import TERMINAL_STATUSES, Job, JobStatus
from tradeopt_common.jobs.names import Queue, TaskName

__all__ = ["TERMINAL_STATUSES", "Job", "JobStatus", "Queue", "TaskName"]
