"""The agent's HTTP endpoint: metrics, readiness and liveness on one port (``metrics_port``).

- ``GET /readyz``: 200 when the pod may take traffic, else 503; the JSON body is
  ``Readiness.body()`` (``ready``, ``reason`` naming what is missing, ``models``,
  ``unresolved``). The rule is in ``readiness.py``. The chart's readiness probe.
- ``GET /healthz``: 200 ``{"status": "ok"}`` while the agent process serves; the chart's liveness
  probe. A reconcile that fails or takes long (a large download) does not fail it: the agent
  retries on its own and restarting it would not help.
- ``GET /metrics`` (and any other path): Prometheus metrics, as ``prometheus_client`` serves them.

Requests are answered on threads of their own, so a probe never waits for a reconcile.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.readiness import ReadinessGate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

READY_PATH = "/readyz"
LIVE_PATH = "/healthz"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds must not fill the log."""


class AgentEndpoint:
    """Serves ``/readyz``, ``/healthz`` and ``/metrics`` for one agent.

    Args:
        metrics: the agent's metrics.
        readiness: the agent's readiness gate (``probe()`` answers ``/readyz``).
    """

    def __init__(self, metrics: AgentMetrics, readiness: ReadinessGate) -> None:
        self.readiness = readiness
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application (routes above)."""
        path = environ.get("PATH_INFO", "")
        if path == READY_PATH:
            readiness = self.readiness.probe()
            status = "200 OK" if readiness.ready else "503 Service Unavailable"
            return _json(start_response, status, readiness.body())
        if path == LIVE_PATH:
            return _json(start_response, "200 OK", {"status": "ok"})
        return self._metrics_app(environ, start_response)

    @property
    def port(self) -> int | None:
        """The bound port while serving, else None."""
        return int(self._server.server_port) if self._server is not None else None

    def start(self, port: int, address: str = "0.0.0.0") -> int:  # noqa: S104
        """Serve on ``address:port`` (0 picks a free port) in a background thread; returns the port.

        Raises ``OSError`` if the port cannot be bound.
        """
        self._server = make_server(
            address, port, self.app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="agent-endpoint", daemon=True
        )
        self._thread.start()
        return int(self._server.server_port)

    def stop(self) -> None:
        """Stop serving if it serves (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [data]
