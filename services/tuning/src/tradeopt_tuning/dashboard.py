"""optuna-dashboard on the tuning service's Optuna storage (DESIGN §1: gateway ``/optuna/``).

``uvicorn tradeopt_tuning.dashboard:create_app --factory --interface wsgi --port 8081``

The dashboard reads the same storage the study jobs write (:meth:`TuningSettings.optuna_url`:
``TRADING_OPT_OPTUNA_DB_URI``, else ``<main db>_optuna`` or the embedded SQLite file), so it is
configured like the tuning service, from the same settings, and runs from the tuning image.
Its Bottle app is a WSGI application; uvicorn serves it (threaded, with the fleet's logging).

It has no authentication of its own and assumes it is served at the root: the gateway protects
``/optuna/`` with ``auth_request`` to ``GET /api/v1/auth/check`` and strips and re-adds the
prefix (docker/nginx/templates/gateway.conf.template). Never publish its port directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeopt_common.logging import configure_logging, get_logger
from tradeopt_tuning.config import TuningSettings, get_tuning_settings
from tradeopt_tuning.storage import get_storage

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = get_logger(__name__)

#: The port of optuna-dashboard (DESIGN §1); ``OPTUNA_DASHBOARD_PORT`` moves it in the fleet.
PORT = 8081


def create_app(settings: TuningSettings | None = None) -> WSGIApplication:
    """optuna-dashboard's WSGI app on the tuning service's Optuna storage."""
    from optuna_dashboard import wsgi

    settings = settings or get_tuning_settings()
    configure_logging(settings.log_level, settings.log_json, log_file=settings.log_file)
    storage = get_storage(settings.optuna_url())
    log.info("optuna_dashboard.started", storage=storage.engine.url.render_as_string())
    return wsgi(storage)
