"""``/api/v1/algorithms``: the agents a run may use, with their hyperparameter schemas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tradeopt_common.web.deps import ReadPrincipal
from tradeopt_common.web.read_cache import CachedReadRoute
from tradeopt_ml.agents import algorithm_names, get_algorithm, hyperparam_schema

router = APIRouter(prefix="/api/v1/algorithms", tags=["algorithms"], route_class=CachedReadRoute)


@router.get("")
async def list_algorithms(_: ReadPrincipal) -> dict[str, Any]:
    """Every algorithm with the action spaces it supports and its hyperparameters (JSON schema
    with defaults).
    """
    items = []
    for name in algorithm_names():
        info = get_algorithm(name)
        items.append(
            {
                "name": name,
                "action_spaces": list(info.action_space_names),
                "hyperparams": hyperparam_schema(name),
            }
        )
    return {"items": items}
