"""Migrations of the ``tuning`` schema (Optuna's own tables live in its separate storage)."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(
    name="tuning", schema="tuning", location=Path(__file__).parent, depends_on=("core",)
)
