"""Alembic environment of the ``data`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_data.models import Dataset  # noqa: F401 - registers the table

run_env(Base.metadata)
