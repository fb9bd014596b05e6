"""Structured logging shared by the glue services (JSON lines through structlog)."""

from __future__ import annotations

import logging
import sys

import structlog

#: Libraries whose INFO records are per-request noise; they log WARNING and above only.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Route stdlib and structlog records to stderr as JSON lines (or console text).

    Each line carries ``timestamp`` (ISO 8601 UTC), ``level``, ``event`` and the bound context
    (service, pod, model, version...). ``level`` is a stdlib level name; raises ``ValueError``
    for an unknown one. The ``httpx`` and ``httpcore`` loggers are set to WARNING whatever the
    level (their INFO/DEBUG records are one per HTTP request).
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    # httpx logs every request at INFO ("HTTP Request: GET ..."): one line per agent poll.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
