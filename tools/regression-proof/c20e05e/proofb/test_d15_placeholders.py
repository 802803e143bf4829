"""Defect #15 (issue 16): the production placeholder check accepts the k8s template's
``REPLACE_ME`` and never checks the DB password.

Mirrors (main): tests/libs/common/test_config.py::test_production_refuses_the_deploy_templates_markers
(params REPLACE_ME, replace-me, <password>, CHANGEME) and
test_production_accepts_a_uri_without_a_password (control).

Adapted to c20e05e: none needed (same CommonSettings API); the main test's three ``pytest.raises``
blocks are split into three tests so each sub-point's result shows separately. Expected on c20e05e:
REPLACE_ME / replace-me / <password> accepted as the storage secret and in the API key; every marker
(even CHANGEME) accepted as the password inside TRADING_OPT_DB_URI.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradeopt_common.config import CommonSettings, Environment

pytestmark = pytest.mark.unit
MARKERS = ["REPLACE_ME", "replace-me", "<password>", "CHANGEME"]


def _production(*, storage_secret_key: str, db_uri: str) -> CommonSettings:
    return CommonSettings(
        env=Environment.PRODUCTION,
        api_key="a-real-secret-of-enough-length",
        storage_endpoint="minio:9000",
        storage_secret_key=storage_secret_key,
        db_uri=db_uri,
        _env_file=None,
    )


@pytest.mark.parametrize("marker", MARKERS)
def test_storage_secret_marker_refused(marker):
    with pytest.raises(ValidationError, match="STORAGE_SECRET_KEY"):
        _production(storage_secret_key=marker, db_uri="postgresql+asyncpg://u:pw-real@db/x")


@pytest.mark.parametrize("marker", MARKERS)
def test_db_password_marker_refused(marker):
    with pytest.raises(ValidationError, match="password in TRADING_OPT_DB_URI"):
        _production(
            storage_secret_key="another-real-secret",
            db_uri=f"postgresql+asyncpg://tradeopt:{marker}@postgres:5432/tradeopt",
        )


@pytest.mark.parametrize("marker", MARKERS)
def test_api_key_marker_refused(marker):
    with pytest.raises(ValidationError, match="TRADING_OPT_API_KEY"):
        CommonSettings(
            env=Environment.PRODUCTION,
            api_key=marker + "-with-enough-length",
            db_uri="postgresql+asyncpg://u:pw-real@db/x",
            _env_file=None,
        )


def test_production_accepts_a_uri_without_a_password():
    s = _production(storage_secret_key="another-real-secret", db_uri="postgresql+asyncpg://u@db/x")
    assert not s.is_sqlite
