"""structlog configuration: JSON in containers, console in development, context ids.

Bind ``request_id``/``job_id`` with :func:`bind_context`; every log line in that context
carries them.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, unbind_contextvars

__all__ = ["bind_context", "clear_context", "configure_logging", "get_logger", "unbind_context"]

bind_context = bind_contextvars
clear_context = clear_contextvars
unbind_context = unbind_contextvars


DEFAULT_LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_FILE_BACKUPS = 5


def configure_logging(
    level: str = "INFO",
    json: bool = False,
    *,
    log_file: str | Path | None = None,
    max_bytes: int = DEFAULT_LOG_FILE_MAX_BYTES,
    backups: int = DEFAULT_LOG_FILE_BACKUPS,
) -> None:
    """Route stdlib and structlog logging through one structlog renderer.

    Args:
        level: minimum level name (``DEBUG``, ``INFO``, ...).
        json: render one JSON object per line (containers) instead of coloured console output.
        log_file: also write JSON lines to this file (``TRADING_OPT_LOG_FILE``), rotated by
            size; stderr keeps logging as before. Containers leave it unset (stdout is collected).
        max_bytes: rotate the file when it would grow past this size.
        backups: rotated files kept (``app.log.1`` ... ``app.log.N``).
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        # Plain tracebacks: the default (rich, with local variables) prints secrets held in
        # locals and takes seconds per crash on the event loop (every request waits).
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [handler]
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
        handlers.append(file_handler)
    root = logging.getLogger()
    for old in root.handlers:
        if old not in handlers:
            old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger; events are named ``noun.verb`` (``job.claimed``)."""
    return structlog.stdlib.get_logger(name)
