"""The data service app: ``uvicorn tradeopt_data.app:create_app --factory --port 8001``."""

from __future__ import annotations

from fastapi import FastAPI

from tradeopt_common.web.app import create_service_app
from tradeopt_data.config import DataSettings, get_data_settings
from tradeopt_data.routes import router


def create_app(settings: DataSettings | None = None) -> FastAPI:
    """Build the data service."""
    return create_service_app(
        "data",
        routers=[router],
        settings=settings or get_data_settings(),
        description="Datasets of OHLCV bars: ingest, validate, store, list, delete.",
    )
