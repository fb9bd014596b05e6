"""Middleware of the registry app: the request body limit and per-request metrics and logs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glue.model_registry.api.problems import problem
from glue.model_registry.deps import app_metrics

log = structlog.get_logger("kubeai.registry")

#: Routes answered without a log line per request (scraped or probed every few seconds).
QUIET_ROUTES = ("/metrics", "/healthz")


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413 problem+json.

    A declared ``Content-Length`` over the limit is refused before reading; otherwise the body
    is read (chunked too) up to the limit and replayed to the app, so an oversized streamed body
    is also a 413 and never reaches the JSON parser. Memory use is bounded by ``limit``.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Content too large",
            f"request bodies are limited to {self.limit} bytes",
            instance=scope.get("path"),
            errors=[{"field": "body", "message": f"at most {self.limit} bytes"}],
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that yields ``messages`` first, then defers to ``then`` (disconnects)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: request latency by method, route template and status (``app.state.metrics``)
    and one log line per request (except ``QUIET_ROUTES``)."""
    metrics = app_metrics(request)
    start = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    elapsed = time.perf_counter() - start
    metrics.request_seconds.labels(request.method, path, str(response.status_code)).observe(elapsed)
    if path not in QUIET_ROUTES:
        log.info(
            "request",
            method=request.method,
            route=path,
            status=response.status_code,
            seconds=round(elapsed, 5),
        )
    return response
