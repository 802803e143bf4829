"""Migrations of the ``data`` schema."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(
    name="data", schema="data", location=Path(__file__).parent, depends_on=("core",)
)
