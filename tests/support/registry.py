"""A real registry server (uvicorn on loopback, in a thread) over a real SQLite file.

``registry`` gives a started ``RegistryServer`` that tests may ``stop()`` and ``start()`` again on
the same port and database (to simulate an outage); ``registry_url`` is its base URL.
``RegistryServer.client()`` is a ``RegistryClient`` for it with the tests' generous timeout
(``CLIENT_TIMEOUT``): on a loaded machine (load average 12-17) answers took 5.2-5.5 s, past the
client's 5 s default, and tests failed with ``RegistryUnavailable ... timed out``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from glue.artifacts.settings import ArtifactSettings
from glue.model_registry.app import create_app
from glue.model_registry.client import RegistryClient
from glue.model_registry.settings import RegistrySettings
from tests.support.net import free_port, wait_http

#: Seconds per registry request in tests: a slow answer on a loaded machine is not an outage.
CLIENT_TIMEOUT = 30.0


class RegistryServer:
    """Runs ``create_app(settings)`` under uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, settings: RegistrySettings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RegistryServer:
        """Start serving and wait until /healthz answers."""
        config = uvicorn.Config(
            create_app(self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_http(self.url + "/healthz", timeout=30)
        return self

    def client(self, team: str | None = "cv", token: str | None = None) -> RegistryClient:
        """A client of this server acting in ``team`` with ``CLIENT_TIMEOUT`` per request
        (close it after use)."""
        return RegistryClient(self.url, team=team, timeout=CLIENT_TIMEOUT, token=token)

    def stop(self) -> None:
        """Stop serving (connections are refused afterwards)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None


def registry_settings(tmp: Path, database_url: str | None = None) -> RegistrySettings:
    """Settings with a SQLite file and a local artifact root below ``tmp``."""
    return RegistrySettings(
        database_url=database_url or f"sqlite:///{tmp / 'registry.db'}",
        artifacts=ArtifactSettings(local_root=tmp / "artifacts"),
    )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A started registry on a fresh SQLite database; stopped after the test."""
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    server = RegistryServer(registry_settings(tmp_path)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_url(registry: RegistryServer) -> str:
    """Base URL of the ``registry`` fixture's server."""
    return registry.url
