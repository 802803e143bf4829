"""Settings of the tuning service."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from sqlalchemy.engine import make_url

from tradeopt_common.config import CommonSettings


class TuningSettings(CommonSettings):
    """Tuning-service settings (common ones plus the Optuna storage and study limits)."""

    #: SQLAlchemy URL (synchronous driver) of Optuna's storage. Empty: derived from ``db_uri``
    #: — the database ``<name>_optuna`` on the same PostgreSQL server (created when missing), or
    #: ``<data dir>/optuna.db`` beside the embedded SQLite database.
    optuna_db_uri: str = ""
    #: Largest ``n_trials`` a study may ask for.
    tuning_max_trials: int = Field(1000, ge=1)
    #: Largest ``parallelism`` (trials training at once) a study may ask for.
    tuning_max_parallelism: int = Field(32, ge=1)
    #: A study fails once this many of its trials failed (in addition to ``n_trials``), so a
    #: study whose every run fails ends instead of starting runs forever.
    tuning_max_failed_trials: int = Field(10, ge=0)

    def optuna_url(self) -> str:
        """The Optuna storage URL (see :attr:`optuna_db_uri`)."""
        if self.optuna_db_uri:
            return self.optuna_db_uri
        url = make_url(self.db_uri)
        if url.get_backend_name() == "sqlite":
            self.data_dir.mkdir(parents=True, exist_ok=True)  # embedded: beside the main database
            return f"sqlite:///{self.data_dir / 'optuna.db'}"
        return url.set(
            drivername="postgresql+psycopg", database=f"{url.database}_optuna"
        ).render_as_string(hide_password=False)


@lru_cache
def get_tuning_settings() -> TuningSettings:
    """Process-wide tuning settings."""
    return TuningSettings()
