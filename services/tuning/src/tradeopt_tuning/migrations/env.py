"""Alembic environment of the ``tuning`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_tuning.models import (  # noqa: F401 - registers the tables
    Study,
    Trial,
    WalkForwardOptimization,
)

run_env(Base.metadata)
