"""Pytest fixtures of a throw-away PostgreSQL server (``tests.support.postgres`` starts it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresNotInstalled, PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (max_connections 200); skipped if not installed."""
    server = PostgresServer(max_connections=200)
    try:
        server.start()
    except PostgresNotInstalled as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server; its SQLAlchemy URL."""
    return postgres_server.create_database("t")
