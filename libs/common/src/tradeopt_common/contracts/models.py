"""The stored form of a registered model, as every other service reads it (DESIGN §7).

The training service writes ``models/{id}/model.zip`` and then ``models/{id}/model.json`` (the
lineage, written last); a lineage document exists only for a registered model. Evaluation,
tuning, strategy and the CLI read models through these keys (ids are parsed UUIDs, never user
text) and through :func:`read_lineage`, the one parser.

The schema itself — :class:`ModelLineage` with its typed blocks (feature spec, normalisation,
env config, split, dataset, checksums, optional ``study``) — is defined in
:mod:`tradeopt_ml.lineage` and re-exported here: most of it is the library's own recipe for
rebuilding a model's observations, ``tradeopt_ml`` never imports ``tradeopt_common``, and every
reader of a lineage already depends on ``tradeopt_ml``. This module adds what the library must
not know: where the document lives in object storage and how it is read and written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from tradeopt_common.errors import ValidationFailed
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactNotFound
from tradeopt_common.storage.integrity import Digest, fetch_verified, recorded_digests
from tradeopt_ml.lineage import (
    LINEAGE_VERSION,
    DatasetRef,
    LineageStudy,
    ModelChecksums,
    ModelLineage,
    ModelRecipe,
    StudyOutcome,
)

__all__ = [
    "LINEAGE_VERSION",
    "DatasetRef",
    "LineageStudy",
    "ModelChecksums",
    "ModelLineage",
    "ModelRecipe",
    "StudyOutcome",
    "download_model",
    "lineage_key",
    "model_digests",
    "model_key",
    "read_lineage",
    "write_lineage",
]


def model_key(model_id: uuid.UUID) -> str:
    """Object key of a model's stable-baselines3 zip."""
    return f"models/{model_id}/model.zip"


def lineage_key(model_id: uuid.UUID) -> str:
    """Object key of a model's lineage (``model.json``)."""
    return f"models/{model_id}/model.json"


def write_lineage(store: ArtifactStore, lineage: ModelLineage) -> None:
    """Publish (or rewrite) a model's lineage; the only writer of ``model.json``."""
    store.put_bytes(lineage_key(lineage.model_id), lineage.dumps(), content_type="application/json")


def read_lineage(store: ArtifactStore, model_id: uuid.UUID) -> ModelLineage | None:
    """The lineage of a registered model, or ``None`` for an unknown model.

    Raises:
        pydantic.ValidationError: the stored document does not match the schema (a missing or
            unknown field), never silently half-read.
    """
    try:
        raw = store.get_bytes(lineage_key(model_id))
    except ArtifactNotFound:
        return None
    return ModelLineage.parse(raw)


async def model_digests(session: AsyncSession, model_ids: Iterable[uuid.UUID]) -> dict[str, Digest]:
    """The digests the training service recorded for the models' archives (for
    :func:`download_model`; read them in the job's database session).
    """
    return await recorded_digests(session, [model_key(m) for m in model_ids])


def download_model(
    store: ArtifactStore, model_id: uuid.UUID, workdir: Path, expected: Mapping[str, Digest]
) -> tuple[ModelLineage, Path]:
    """A registered model's lineage and its ``model.zip`` downloaded into ``workdir``, verified
    against the digest recorded at registration (``expected``, from :func:`model_digests`)
    before anything unpickles it. :class:`ValidationFailed` when the model is gone,
    :class:`~tradeopt_common.storage.integrity.UntrustedArtifact` when its archive was changed in
    the bucket.
    """
    lineage = read_lineage(store, model_id)
    if lineage is None:
        raise ValidationFailed(f"model {model_id} no longer exists")
    path = workdir / f"{model_id}.zip"
    fetch_verified(store, model_key(model_id), path, expected)
    return lineage, path
