"""``/api/v1/features``: the catalog of indicators a FeatureSpec may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradeopt_common.web.deps import ReadPrincipal
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_ml.features import FeatureSpec, catalog

router = APIRouter(prefix="/api/v1/features", tags=["features"], route_class=CachedReadRoute)


@router.get("")
async def list_features(_: ReadPrincipal) -> dict[str, Any]:
    """Every indicator with its parameters (type, default, bounds), output columns and warm-up,
    plus the default spec.
    """
    default = FeatureSpec.default()
    return {
        "items": catalog(),
        "default_spec": default.model_dump(mode="json"),
        "default_columns": list(default.columns()),
    }
