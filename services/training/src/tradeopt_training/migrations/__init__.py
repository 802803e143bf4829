"""Migrations of the ``training`` schema."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(
    name="training", schema="training", location=Path(__file__).parent, depends_on=("core",)
)
