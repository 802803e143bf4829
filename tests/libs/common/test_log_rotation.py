"""TRADING_OPT_LOG_FILE: JSON lines in a size-rotated file next to stderr logging."""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradeopt_common.config import CommonSettings
from tradeopt_common.logging import bind_context, clear_context, configure_logging, get_logger

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_context()


def test_settings_read_the_log_file_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADING_OPT_LOG_FILE", str(tmp_path / "api.log"))
    monkeypatch.setenv("TRADING_OPT_LOG_FILE_MAX_BYTES", "4096")
    monkeypatch.setenv("TRADING_OPT_LOG_FILE_BACKUPS", "3")
    s = CommonSettings(_env_file=None)
    assert (s.log_file, s.log_file_max_bytes, s.log_file_backups) == (tmp_path / "api.log", 4096, 3)
    monkeypatch.delenv("TRADING_OPT_LOG_FILE")
    assert CommonSettings(_env_file=None).log_file is None


def test_settings_reject_a_non_positive_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_OPT_LOG_FILE_MAX_BYTES", "0")
    with pytest.raises(ValueError, match="log_file_max_bytes"):
        CommonSettings(_env_file=None)


def test_file_gets_json_lines_with_context_ids(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "worker.log"  # the folder is created
    configure_logging("INFO", json=False, log_file=log_file)
    bind_context(job_id="job-42")
    get_logger("t").info("job.claimed", attempt=1)
    logging.getLogger("plain.stdlib").warning("from stdlib")
    get_logger("t").debug("below.level")
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["job.claimed", "from stdlib"]
    assert lines[0]["job_id"] == "job-42" and lines[0]["attempt"] == 1
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    kinds = [type(h) for h in logging.getLogger().handlers]
    assert logging.StreamHandler in kinds  # stderr stays


def test_file_rotates_at_max_bytes_and_keeps_n_backups(tmp_path: Path) -> None:
    log_file = tmp_path / "api.log"
    configure_logging("INFO", json=True, log_file=log_file, max_bytes=2_000, backups=2)
    log = get_logger("rot")
    for i in range(200):
        log.info("tick", i=i, pad="x" * 50)
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["api.log", "api.log.1", "api.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2_000
    # The newest event is in the live file, older ones rotated away (only 2 backups kept).
    live = [json.loads(line)["i"] for line in log_file.read_text().splitlines()]
    assert live[-1] == 199
    kept = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert kept < 200


def test_without_a_file_only_stderr_and_reconfigure_closes_the_old_file(tmp_path: Path) -> None:
    configure_logging("INFO", json=True, log_file=tmp_path / "a.log")
    file_handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    )
    configure_logging("INFO", json=True)
    handlers = logging.getLogger().handlers
    assert not any(isinstance(h, logging.FileHandler) for h in handlers)
    assert len(handlers) == 1
    assert file_handler.stream is None  # closed, no leaked descriptor
