"""The stored form of a registered model, as every other service reads it (DESIGN §7).

The training service writes ``models/{id}/model.zip`` and then ``models/{id}/model.json`` (the
lineage); a lineage document exists only for a registered model. Evaluation, tuning and strategy
read models through these keys (ids are parsed UUIDs, never user text).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.base import ArtifactNotFound


def model_key(model_id: uuid.UUID) -> str:
    """Object key of a model's stable-baselines3 zip."""
    return f"models/{model_id}/model.zip"


def lineage_key(model_id: uuid.UUID) -> str:
    """Object key of a model's lineage (``model.json``)."""
    return f"models/{model_id}/model.json"


def read_lineage(store: ArtifactStore, model_id: uuid.UUID) -> dict[str, Any] | None:
    """The lineage of a registered model, or ``None`` for an unknown model."""
    try:
        return json.loads(store.get_bytes(lineage_key(model_id)))
    except ArtifactNotFound:
        return None
