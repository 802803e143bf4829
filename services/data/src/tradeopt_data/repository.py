"""Queries over datasets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_data.models import Dataset


class DatasetRepository(RepositoryBase[Dataset]):
    """Statements for :class:`Dataset`."""

    model = Dataset

    def filtered(self, status: str | None = None) -> Select[Any]:
        """Datasets, optionally only those with ``status``."""
        stmt = select(Dataset)
        if status is not None:
            stmt = stmt.where(Dataset.status == status)
        return stmt
