"""Migrations of the ``core`` schema: jobs, API keys, idempotency records."""

from pathlib import Path

from tradeopt_common.db.migrations import MigrationTree

TREE = MigrationTree(name="core", schema="core", location=Path(__file__).parent)
