"""The training worker.

``celery -A tradeopt_training.worker:celery_app worker -Q training,maintenance``
"""

from tradeopt_common.jobs.celery import make_celery
from tradeopt_training.config import get_training_settings

celery_app = make_celery("training", get_training_settings(), include=["tradeopt_training.tasks"])
