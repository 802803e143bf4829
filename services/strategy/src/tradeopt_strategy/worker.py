"""The strategy worker.

``celery -A tradeopt_strategy.worker:celery_app worker -Q strategy,maintenance``
"""

from tradeopt_common.jobs.celery import make_celery
from tradeopt_strategy.config import get_strategy_settings

celery_app = make_celery("strategy", get_strategy_settings(), include=["tradeopt_strategy.tasks"])
