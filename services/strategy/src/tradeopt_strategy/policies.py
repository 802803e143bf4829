"""Loaded policies of the API (signals), kept per model in a small LRU cache: a model is
downloaded, verified against the digest the training service recorded in PostgreSQL
(:mod:`tradeopt_common.storage.integrity`) and loaded once per process, as the evaluation worker
loads it.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradeopt_common.contracts.models import ModelLineage, download_model
from tradeopt_common.storage import ArtifactStore
from tradeopt_common.storage.integrity import Digest
from tradeopt_strategy import service

_LOCK = threading.Lock()
_CACHE: OrderedDict[uuid.UUID, tuple[ModelLineage, Any]] = OrderedDict()


def is_cached(model_id: uuid.UUID) -> bool:
    """Whether this process holds the model loaded (no digest lookup needed)."""
    with _LOCK:
        return model_id in _CACHE


def get_policy(
    store: ArtifactStore,
    model_id: uuid.UUID,
    size: int,
    expected: Mapping[str, Digest] | None = None,
) -> tuple[ModelLineage, Any]:
    """``(lineage, model)`` of a registered model, loaded once per process (LRU of ``size``);
    ``expected`` (:func:`~tradeopt_common.contracts.models.model_digests`) is needed when it is
    not loaded yet.
    """
    with _LOCK:
        if model_id in _CACHE:
            _CACHE.move_to_end(model_id)
            return _CACHE[model_id]
    with tempfile.TemporaryDirectory(prefix=f"tradeopt-policy-{model_id}-") as tmp:
        lineage, path = download_model(store, model_id, Path(tmp), expected or {})
        model = service.load_policy(lineage, path)
    with _LOCK:
        _CACHE[model_id] = (lineage, model)
        while len(_CACHE) > size:
            _CACHE.popitem(last=False)
    return lineage, model
