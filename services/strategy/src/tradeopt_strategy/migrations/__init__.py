"""Migrations of the ``strategy`` schema."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(
    name="strategy", schema="strategy", location=Path(__file__).parent, depends_on=("core",)
)
