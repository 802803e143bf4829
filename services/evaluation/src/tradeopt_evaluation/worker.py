"""The evaluation worker.

``celery -A tradeopt_evaluation.worker:celery_app worker -Q evaluation,maintenance``
"""

from tradeopt_common.jobs.celery import make_celery
from tradeopt_evaluation.config import get_evaluation_settings

celery_app = make_celery(
    "evaluation", get_evaluation_settings(), include=["tradeopt_evaluation.tasks"]
)
