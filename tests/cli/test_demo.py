"""``make demo`` (the data-service slice) runs in-process on embedded defaults."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_demo_ingests_a_sample_on_sqlite_and_a_local_folder(tmp_path, monkeypatch, capsys):
    from tradeopt_common.config import get_settings

    for var in ("TRADING_OPT_DB_URI", "TRADING_OPT_STORAGE_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TRADING_OPT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    from tradeopt_cli.demo import run_demo
    from tradeopt_common.jobs.runtime import reset_runtime

    reset_runtime()
    try:
        run_demo("QQQ")
    finally:
        reset_runtime()
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "ready" in out and "6680" in out and "succeeded" in out
    parquet = list((tmp_path / "artifacts" / "datasets").glob("*/bars.parquet"))
    assert len(parquet) == 1 and (tmp_path / "tradeopt.db").exists()
