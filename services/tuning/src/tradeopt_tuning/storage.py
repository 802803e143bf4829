"""Optuna's storage: the state of every study's sampler (its trials, parameters, values).

An :class:`optuna.storages.RDBStorage` on its own database, never on the service schemas (Optuna
brings its own tables and Alembic history, STYLE §3.6): ``TRADING_OPT_OPTUNA_DB_URI``, or by
default the database ``<main db>_optuna`` on the same PostgreSQL server (created here when
missing), or the SQLite file ``<data dir>/optuna.db`` in the embedded mode. One storage per URL
and process, built on first use inside the worker (never at import).

Trial liveness is not Optuna's heartbeat: a trial's run trains on a training worker while the
study job is parked, so no process of ours could heartbeat it; the run's own job (heartbeat,
reaper, resume from checkpoint) is its liveness, and the study tells Optuna the trial's end when
that job ends.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tradeopt_common.logging import get_logger

if TYPE_CHECKING:
    import optuna

log = get_logger(__name__)
_STORAGES: dict[str, optuna.storages.RDBStorage] = {}
_LOCK = threading.Lock()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist (no-op for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            ).scalar()
            if not exists:
                quoted = parsed.database.replace('"', '""') if parsed.database else ""
                try:
                    conn.execute(text(f'CREATE DATABASE "{quoted}"'))
                    log.info("optuna.database_created", database=parsed.database)
                    # a storage built on a database that was dropped since has no tables here
                    _STORAGES.pop(url, None)
                except Exception as exc:  # created concurrently by another process
                    if "already exists" not in str(exc):
                        raise
    finally:
        admin.dispose()


def get_storage(url: str) -> optuna.storages.RDBStorage:
    """The process's Optuna storage for ``url`` (its database created when missing)."""
    import optuna

    with _LOCK:
        storage = _STORAGES.get(url)
        if storage is None:
            optuna.logging.disable_default_handler()
            optuna.logging.enable_propagation()
            ensure_database(url)
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True}, skip_compatibility_check=False
            )
            _STORAGES[url] = storage
        return storage


def study_name(study_id: object) -> str:
    """Optuna's name of a study (our id, so optuna-dashboard shows the same one)."""
    return f"tradeopt-{study_id}"
