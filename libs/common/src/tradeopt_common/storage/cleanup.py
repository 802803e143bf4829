"""A deleted resource's objects go only once the deletion of its row has committed."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.db.session import after_commit
from tradeopt_common.logging import get_logger
from tradeopt_common.storage.base import ArtifactStore
from tradeopt_common.storage.integrity import forget_digests

log = get_logger(__name__)


async def delete_prefix_after_commit(
    session: AsyncSession, store: ArtifactStore, prefix: str
) -> None:
    """Forget the digests recorded under ``prefix`` now (in the unit of work) and delete its
    objects after the unit of work commits: a rolled-back deletion keeps the row, the records
    and the objects.

    Args:
        session: the unit of work that deletes the resource's row.
        store: where the objects are.
        prefix: the resource's key prefix (e.g. ``runs/{id}/``).
    """
    await forget_digests(session, prefix)

    async def _delete() -> None:
        removed = await asyncio.to_thread(store.delete_prefix, prefix)
        log.info("storage.prefix_deleted", prefix=prefix, objects=removed)

    after_commit(session, _delete)
