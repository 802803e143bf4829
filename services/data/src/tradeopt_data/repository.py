"""Queries over datasets."""

from __future__ import annotations

from tradeopt_common.db.repository import RepositoryBase
from tradeopt_data.errors import DatasetNotFound
from tradeopt_data.models import Dataset


class DatasetRepository(RepositoryBase[Dataset]):
    """Statements for :class:`Dataset`."""

    model = Dataset
    noun, not_found = "dataset", DatasetNotFound
