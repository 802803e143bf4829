"""Alembic environment of the ``training`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_training.models import Model, ModelStageChange, TrainingRun  # noqa: F401

run_env(Base.metadata)
