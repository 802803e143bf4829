"""The data worker: ``celery -A tradeopt_data.worker:celery_app worker -Q data,maintenance``."""

from tradeopt_common.jobs.celery import make_celery
from tradeopt_data.config import get_data_settings

celery_app = make_celery("data", get_data_settings(), include=["tradeopt_data.tasks"])
