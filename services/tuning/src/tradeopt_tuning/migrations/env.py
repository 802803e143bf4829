"""Alembic environment of the ``tuning`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_tuning.models import Study, Trial  # noqa: F401 - registers the tables

run_env(Base.metadata)
