"""Settings shared by every tradeopt process (DESIGN §2).

Environment first, prefix ``TRADING_OPT_``; an optional YAML file named by ``TRADING_OPT_CONFIG``
supplies values the environment does not set; a ``.env`` file in the working directory is read too.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "TRADING_OPT_"

#: Values that are obviously not real secrets; refused outside development and test.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "password",
        "minioadmin",
        "admin",
        "dev",
        "postgres",
        "tradeopt",
    }
)
#: Prefixes of template markers (``CHANGEME…``, the k8s secret templates' ``REPLACE_ME``,
#: ``<password>``, an unexpanded ``${VAR}``), compared without ``-`` and ``_``.
_PLACEHOLDER_PREFIXES = ("changeme", "replaceme", "<", "${")


class Environment(StrEnum):
    """Where the process runs; production refuses placeholder secrets."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def is_placeholder(secret: str) -> bool:
    """Whether a secret is empty, a known default, or a template marker (``change-me…``,
    ``REPLACE_ME``, ``<password>``).
    """
    lowered = secret.strip().lower()
    squashed = lowered.replace("-", "").replace("_", "")
    return lowered in PLACEHOLDER_SECRETS or squashed.startswith(_PLACEHOLDER_PREFIXES)


def db_password(uri: str) -> str | None:
    """The password in a database URI (``None`` when the URI names none)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).password
    except ArgumentError:
        return None


def _default_data_dir() -> Path:
    return Path(os.environ.get("TRADING_OPT_DATA_DIR", ".tradeopt")).resolve()


class CommonSettings(BaseSettings):
    """Settings every service, worker and the CLI share. Services subclass it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(default_factory=_default_data_dir)
    db_uri: str = ""
    redis_uri: str = "redis://127.0.0.1:6379/0"
    storage_endpoint: str | None = None
    storage_access_key: str = ""
    storage_secret_key: SecretStr = SecretStr("")
    storage_bucket: str = "trading-optimization"
    storage_secure: bool = False
    storage_region: str | None = None
    api_key: SecretStr | None = None
    # Authenticated keys are remembered in-process this long (0: look every request up). A
    # revocation clears every process's cache at once over Redis pub/sub; this bounds the delay
    # when a process missed the message.
    auth_cache_seconds: float = Field(default=10.0, ge=0)
    # Read answers (GET lists and resources of the cached routers) are served from a per-process
    # cache at most this long after they were read (0: off). Requests are still authenticated;
    # any committed write to our tables, by any process, drops the cache at once (PostgreSQL's
    # change feed); without a live feed (SQLite, PostgreSQL unreachable) nothing is cached.
    read_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Lifetime of a browser session (POST /api/v1/auth/session -> HttpOnly cookie).
    session_ttl_seconds: int = Field(default=43200, ge=60, le=30 * 86400)
    log_level: str = "INFO"
    log_json: bool = False
    # Optional rotated JSON log file (processes outside containers); stderr logging stays on.
    log_file: Path | None = None
    log_file_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    log_file_backups: int = Field(default=5, ge=0)
    config: Path | None = None

    # HTTP
    max_request_bytes: int = 10 * 1024 * 1024
    #: Sized to the deployment files (tests/deploy/test_limits.py): the data API stages an upload
    #: in its 256 MiB /tmp twice, and parsing a CSV takes ~8x its size in the 2 GiB data worker.
    max_upload_bytes: int = 100 * 1024 * 1024
    internal_timeout_seconds: float = 30.0
    data_url: str = "http://127.0.0.1:8001"
    training_url: str = "http://127.0.0.1:8002"
    tuning_url: str = "http://127.0.0.1:8003"
    evaluation_url: str = "http://127.0.0.1:8004"
    strategy_url: str = "http://127.0.0.1:8005"

    # Database pool: a connection idle longer than this is pinged before use (0: always), so
    # one dropped while idle (PostgreSQL restarted) is replaced instead of failing a request.
    db_ping_idle_seconds: float = Field(default=5.0, ge=0)

    # Jobs (DESIGN §4)
    job_heartbeat_seconds: float = 10.0
    job_stale_after_seconds: float = 60.0
    job_max_attempts: int = 3
    job_requeue_after_seconds: float = 600.0
    reaper_interval_seconds: float = 30.0
    broker_visibility_timeout: int = 12 * 3600
    worker_soft_shutdown_seconds: float = 60.0
    worker_metrics_port: int | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order: init kwargs, environment, ``.env``, secrets dir, then the YAML file if any."""
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
        ]
        yaml_path = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> Self:
        if not self.db_uri:
            self.db_uri = f"sqlite+aiosqlite:///{self.data_dir / 'tradeopt.db'}"
        if self.env is Environment.PRODUCTION:
            problems = []
            key = self.api_key.get_secret_value() if self.api_key else ""
            if is_placeholder(key) or len(key) < 16:
                problems.append("TRADING_OPT_API_KEY must be a real secret (16+ characters)")
            if self.storage_endpoint and is_placeholder(self.storage_secret_key.get_secret_value()):
                problems.append("TRADING_OPT_STORAGE_SECRET_KEY must not be a placeholder")
            if self.db_uri.startswith("sqlite"):
                problems.append("TRADING_OPT_DB_URI must point at PostgreSQL in production")
            else:
                password = db_password(self.db_uri)
                if password is not None and is_placeholder(password):
                    problems.append("the password in TRADING_OPT_DB_URI must not be a placeholder")
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def service_key(self) -> str:
        """The internal service key (write scope) for calls between services, derived from
        ``TRADING_OPT_API_KEY``; empty when no bootstrap key is configured.
        """
        from tradeopt_common.auth.keys import service_key_for

        return service_key_for(self.api_key.get_secret_value()) if self.api_key else ""

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite default."""
        return self.db_uri.startswith("sqlite")

    @property
    def artifact_dir(self) -> Path:
        """The local artifact folder used when no storage endpoint is configured."""
        return self.data_dir / "artifacts"

    def public_dict(self) -> dict[str, Any]:
        """Settings with secrets masked, for logs and diagnostics."""
        return yaml.safe_load(self.model_dump_json())


@lru_cache
def get_settings() -> CommonSettings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return CommonSettings()
