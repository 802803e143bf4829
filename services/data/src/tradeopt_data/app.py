"""The data service app: ``uvicorn tradeopt_data.app:create_app --factory --port 8001``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from tradeopt_common.web.app import create_service_app
from tradeopt_data.config import DataSettings, get_data_settings
from tradeopt_data.routes import routers
from tradeopt_data.schemas import DatasetCreate

DATASETS_PATH = "/api/v1/datasets"


def create_app(settings: DataSettings | None = None) -> FastAPI:
    """Build the data service."""
    settings = settings or get_data_settings()

    def upload_limit(path: str, media_type: str) -> int | None:
        # Multipart uploads may be larger than ordinary requests (both are capped).
        if path.rstrip("/") == DATASETS_PATH and media_type == "multipart/form-data":
            return settings.max_upload_bytes
        return None

    app = create_service_app(
        "data",
        routers=routers,
        settings=settings,
        description=(
            "Datasets of OHLCV bars: upload (CSV/Parquet), bundled samples, synthetic generators "
            "and an online provider; validation with row reports; bars, summary, splits, "
            "features."
        ),
        upload_limit_for=upload_limit,
    )
    _document_create_body(app)
    return app


def _document_create_body(app: FastAPI) -> None:
    """Publish the JSON body of ``POST /api/v1/datasets`` (a discriminated union the route
    parses itself, since the same path also takes multipart uploads) in the OpenAPI document.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        body = TypeAdapter(DatasetCreate).json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components["DatasetCreateBody"] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
