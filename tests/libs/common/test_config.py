import pytest
from pydantic import ValidationError

from tradeopt_common.config import CommonSettings, Environment

pytestmark = pytest.mark.unit


def test_embedded_defaults_use_sqlite_in_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADING_OPT_DB_URI", raising=False)
    s = CommonSettings(data_dir=tmp_path, _env_file=None)
    assert s.db_uri == f"sqlite+aiosqlite:///{tmp_path / 'tradeopt.db'}"
    assert s.is_sqlite
    assert s.storage_endpoint is None
    assert s.artifact_dir == tmp_path / "artifacts"


def test_environment_variables_with_prefix(monkeypatch):
    monkeypatch.setenv("TRADING_OPT_REDIS_URI", "redis://example:6379/3")
    monkeypatch.setenv("TRADING_OPT_JOB_MAX_ATTEMPTS", "7")
    s = CommonSettings(_env_file=None)
    assert s.redis_uri == "redis://example:6379/3"
    assert s.job_max_attempts == 7


@pytest.mark.parametrize(
    "key",
    [None, "changeme", "short", "minioadmin", "change-me-app-key-please", "CHANGEME123456789"],
)
def test_production_refuses_placeholder_api_key(key, monkeypatch):
    monkeypatch.delenv("TRADING_OPT_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="TRADING_OPT_API_KEY"):
        CommonSettings(
            env=Environment.PRODUCTION,
            api_key=key,
            db_uri="postgresql+asyncpg://u:p@db/x",
            _env_file=None,
        )


def _production(*, storage_secret_key: str, db_uri: str) -> CommonSettings:
    """Production settings with a real API key and S3 storage (no ``.env`` file read)."""
    return CommonSettings(
        env=Environment.PRODUCTION,
        api_key="a-real-secret-of-enough-length",
        storage_endpoint="minio:9000",
        storage_secret_key=storage_secret_key,
        db_uri=db_uri,
        _env_file=None,
    )


def test_production_refuses_placeholder_storage_secret_and_sqlite():
    with pytest.raises(ValidationError) as info:
        _production(storage_secret_key="minioadmin", db_uri="sqlite+aiosqlite:///x.db")
    text = str(info.value)
    assert "STORAGE_SECRET_KEY" in text
    assert "PostgreSQL" in text


def test_production_accepts_real_secrets():
    s = _production(
        storage_secret_key="another-real-secret", db_uri="postgresql+asyncpg://u:p@db/x"
    )
    assert s.api_key is not None
    assert s.api_key.get_secret_value().startswith("a-real")
    assert "another-real-secret" not in repr(s)


def test_development_allows_placeholders():
    s = CommonSettings(env=Environment.DEVELOPMENT, api_key="dev", _env_file=None)
    assert s.api_key is not None


def test_yaml_config_file_fills_what_env_does_not(tmp_path, monkeypatch):
    cfg = tmp_path / "tradeopt.yaml"
    cfg.write_text("log_level: DEBUG\njob_max_attempts: 5\n")
    monkeypatch.setenv("TRADING_OPT_CONFIG", str(cfg))
    monkeypatch.setenv("TRADING_OPT_JOB_MAX_ATTEMPTS", "9")
    s = CommonSettings(_env_file=None)
    assert s.log_level == "DEBUG"
    assert s.job_max_attempts == 9  # the environment wins


@pytest.mark.parametrize("marker", ["REPLACE_ME", "replace-me", "<password>", "CHANGEME"])
def test_production_refuses_the_deploy_templates_markers(marker):
    """Hardening item 15: the k8s secret template's ``REPLACE_ME`` passed, and the database
    password was never checked."""
    with pytest.raises(ValidationError, match="STORAGE_SECRET_KEY"):
        _production(storage_secret_key=marker, db_uri="postgresql+asyncpg://u:pw-real@db/x")
    with pytest.raises(ValidationError, match="password in TRADING_OPT_DB_URI"):
        _production(
            storage_secret_key="another-real-secret",
            db_uri=f"postgresql+asyncpg://tradeopt:{marker}@postgres:5432/tradeopt",
        )
    with pytest.raises(ValidationError, match="TRADING_OPT_API_KEY"):
        CommonSettings(
            env=Environment.PRODUCTION,
            api_key=marker + "-with-enough-length",
            db_uri="postgresql+asyncpg://u:pw-real@db/x",
            _env_file=None,
        )


def test_production_accepts_a_uri_without_a_password():
    # peer/trust auth or a password file: nothing to check in the URI
    s = _production(storage_secret_key="another-real-secret", db_uri="postgresql+asyncpg://u@db/x")
    assert not s.is_sqlite
