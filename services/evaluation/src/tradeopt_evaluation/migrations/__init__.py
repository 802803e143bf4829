"""Migrations of the ``evaluation`` schema."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(
    name="evaluation", schema="evaluation", location=Path(__file__).parent, depends_on=("core",)
)
