"""The tuning worker.

``celery -A tradeopt_tuning.worker:celery_app worker -Q tuning,maintenance``
"""

from tradeopt_common.jobs.celery import make_celery
from tradeopt_tuning.config import get_tuning_settings

celery_app = make_celery("tuning", get_tuning_settings(), include=["tradeopt_tuning.tasks"])
