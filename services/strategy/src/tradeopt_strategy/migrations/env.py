"""Alembic environment of the ``strategy`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_strategy import models  # noqa: F401 - registers the tables

run_env(Base.metadata)
