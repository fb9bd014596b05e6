"""Middleware of the registry app: the request body limit, unexpected errors as problem+json,
and per-request metrics and logs (all pure ASGI)."""

from __future__ import annotations

import time

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.openapi import Resources
from glue.model_registry.api.problems import problem, unexpected
from glue.model_registry.metrics import Metrics

log = structlog.get_logger("kubeai.registry")

#: Routes answered without a log line per request (scraped or probed every few seconds).
QUIET_ROUTES = ("/metrics", "/healthz")
#: The serving agents' read path: no log line per successful answer (200 or 304).
READ_PATH_ROUTES = (
    f"{TEAM_PREFIX}/services/{{service}}/desired",
    f"{TEAM_PREFIX}/models/{{model}}/versions/{{version}}",
)


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


class DocumentedMethods:
    """ASGI middleware: a method the OpenAPI document does not list for the resource at the
    request's path is 405 problem+json with ``Allow`` naming the methods it lists.

    FastAPI makes one route per method, and Starlette's own 405 names only the methods of the
    first route whose path matches; and a method of a less specific template would take the
    request (``PUT /aliases/history`` would reach ``PUT /aliases/{alias}``). Paths the document
    does not describe (``/metrics``, ``/docs``) are left to the router.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._resources: Resources | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._resources is None:
                self._resources = Resources(scope["app"].openapi())
            path, root = scope["path"], scope.get("root_path", "")
            allowed = self._resources.methods(path[len(root) :] if path.startswith(root) else path)
            if allowed is not None and scope["method"] not in allowed:
                response = problem(
                    405,
                    "Method Not Allowed",
                    f"{scope['method']} is not a method of this resource; allowed: "
                    f"{', '.join(allowed)}",
                    instance=scope["path"],
                    errors=[],
                )
                response.headers["Allow"] = ", ".join(allowed)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ErrorsAsProblems:
    """ASGI middleware: an exception no handler took becomes the logged 500 problem+json of
    ``problems.unexpected``, and the connection stays usable.

    Starlette's outermost error middleware answers such an exception with the app's 500 too, but
    then re-raises it, and the server closes the connection without ``Connection: close``. Put
    this around the other middleware of the app but inside ``Observe`` (which then counts the
    500). If the response
    had already started, nothing valid can be sent any more: the exception propagates and the
    server drops the connection, as it must.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await unexpected(Request(scope), exc)
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


class Observe:
    """ASGI middleware: request latency by method, route template and status
    (``app.state.metrics``) and one log line per request, except ``QUIET_ROUTES`` and the
    successful answers of ``READ_PATH_ROUTES`` (polled by every serving agent; their metrics
    still count them).

    Pure ASGI (not Starlette's ``BaseHTTPMiddleware``, whose per-request task and body stream
    cost more than the read path's whole answer from cache).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            elapsed = time.perf_counter() - start
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics: Metrics = scope["app"].state.metrics
            metrics.request_seconds.labels(scope["method"], path, str(status)).observe(elapsed)
            quiet = path in QUIET_ROUTES or (path in READ_PATH_ROUTES and status < 400)
            if not quiet:
                principal = (scope.get("state") or {}).get("principal")
                log.info(
                    "request",
                    method=scope["method"],
                    route=path,
                    status=status,
                    seconds=round(elapsed, 5),
                    principal=getattr(principal, "name", None),
                )
