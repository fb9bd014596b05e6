"""Logging of the glue processes (``glue.observability.configure_logging``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from glue.observability import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("httpx", "httpcore")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_httpx_request_lines_are_not_logged(
    restore_logging: None, level: str, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs one INFO line per request, so an agent polling every few seconds filled its
    log with them: httpx and httpcore only log warnings, whatever the level asked for."""
    configure_logging(level)
    with caplog.at_level(logging.DEBUG):  # the root logger lets everything through
        logging.getLogger("httpx").info('HTTP Request: GET http://registry "HTTP/1.1 200 OK"')
        logging.getLogger("httpcore.connection").debug("connect_tcp.started")
        logging.getLogger("httpx").warning("something worth seeing")
        logging.getLogger("kubeai.other").info("kept")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["something worth seeing", "kept"]
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() == logging.WARNING


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level 'LOUD'"):
        configure_logging("LOUD")
