"""Alembic environment of the ``evaluation`` tree."""

from tradeopt_common.db.base import Base
from tradeopt_common.db.migrations import run_env
from tradeopt_evaluation.models import Evaluation  # noqa: F401 - registers the table

run_env(Base.metadata)
