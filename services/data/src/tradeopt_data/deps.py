"""Data-service dependencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from tradeopt_common.web.deps import ReadPrincipal, ReadSessionDep, SessionDep
from tradeopt_data import service
from tradeopt_data.models import Dataset


async def get_current_dataset(
    dataset_id: uuid.UUID, session: SessionDep, _: ReadPrincipal
) -> Dataset:
    """The dataset named in the path, or 404."""
    return await service.get_dataset(session, dataset_id)


CurrentDataset = Annotated[Dataset, Depends(get_current_dataset)]


async def get_dataset_for_read(
    dataset_id: uuid.UUID, session: ReadSessionDep, _: ReadPrincipal
) -> Dataset:
    """The dataset named in the path, or 404, for endpoints that only read and answer it."""
    return await service.get_dataset(session, dataset_id)


DatasetForRead = Annotated[Dataset, Depends(get_dataset_for_read)]
