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

from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactNotFound
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
    "lineage_key",
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
