"""The serving agents' two polled reads, answered without FastAPI's route matching and
dependency resolution: ``ReadFastPath``, the innermost ASGI middleware of the registry app.

Why: py-spy on one worker answering ``GET .../desired`` from cache at 32 clients (FastAPI
0.165) put route matching at about 15% and dependency resolution at about 35% of the
worker's busy CPU, the answer itself (``ReadPath.read``) at about 10%.

What it takes: a request is answered here only when everything the route would check can be
checked on the event loop and passes:

- ``GET`` of exactly ``{TEAM_PREFIX}/services/{service}/desired`` or
  ``{TEAM_PREFIX}/models/{model}/versions/{version}`` (``middleware.READ_PATH_ROUTES``);
- every path and query value valid by the pydantic type the route declares (``schemas.Name``,
  ``PodName``, ``VersionRef``); ``wait`` a plain decimal (``12``, ``0.5``); ``pod`` and
  ``wait`` given at most once;
- at most one ``Authorization`` header and a caller known without I/O
  (``Authenticator.known``: an open registry, a static token, a cached TokenReview) whom the
  policy lets ``read`` in the team.

Anything else goes to the router untouched, and is answered exactly as before (401, 403, 404,
422 problem+json, an OIDC or TokenReview check in the threadpool); so does a request whose
answer fails with a domain error or a database error (the route then answers 404 or 503 the
usual way). The answer is the routes' own function (``services.desired_answer``,
``versions.version_answer``), so both ways give the same bytes, ETag and long-poll. The outer
middleware (metrics, request log, body limit, 405) sees the request either way: the route
template is put on the scope as the router would.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from glue.model_registry import schemas
from glue.model_registry.api.middleware import READ_PATH_ROUTES
from glue.model_registry.api.services import desired_answer
from glue.model_registry.api.versions import version_answer
from glue.model_registry.errors import RegistryProblem
from glue.model_registry.readpath import joined_if_none_match, long_poll_seconds

DESIRED_ROUTE, VERSION_ROUTE = READ_PATH_ROUTES

#: Validators of the routes' path and query types (the same types the routes declare).
_NAME: TypeAdapter[str] = TypeAdapter(schemas.Name)
_POD: TypeAdapter[str] = TypeAdapter(schemas.PodName)
_REF: TypeAdapter[str] = TypeAdapter(schemas.VersionRef)
#: ``wait`` values taken here; any other spelling (``1e3``, ``inf``, ``-1``) goes to the route.
_PLAIN_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


class RouteTemplate(NamedTuple):
    """What ``Observe`` reads from ``scope["route"]``: the route's path template."""

    path: str


def _pattern(template: str) -> re.Pattern[str]:
    """``/a/{b}/c`` -> a regex capturing each ``{...}`` segment."""
    return re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "([^/]+)", re.escape(template)) + "$")


class ReadFastPath:
    """ASGI middleware answering the read path's plain cases itself (see the module docstring);
    everything else goes to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._desired = _pattern(DESIRED_ROUTE)
        self._version = _pattern(VERSION_ROUTE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        response = None
        desired = self._desired.match(path)
        if desired is not None:
            response = await self._desired_answer(scope, receive, *desired.groups())
        else:
            version = self._version.match(path)
            if version is not None:
                response = await self._version_answer(scope, receive, *version.groups())
        if response is None:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    async def _desired_answer(
        self, scope: Scope, receive: Receive, team: str, service: str
    ) -> Response | None:
        query = _query(scope)
        if query is None or not _valid(_NAME, team, service) or "pod" not in query:
            return None
        pod, wait = query["pod"], _wait(query.get("wait", "0"))
        if wait is None or not _valid(_POD, pod) or not _may_read(scope, team):
            return None
        state = scope["app"].state
        answer = desired_answer(
            state.db,
            state.readpath,
            state.settings.observed_ttl_seconds,
            team=team,
            service=service,
            pod=pod,
            wait=long_poll_seconds(wait, state.settings.long_poll_max_seconds),
            if_none_match=_if_none_match(scope),
            receive=receive,
        )
        return await _answered(scope, DESIRED_ROUTE, answer)

    async def _version_answer(
        self, scope: Scope, receive: Receive, team: str, model: str, version: str
    ) -> Response | None:
        query = _query(scope)
        if query is None or not _valid(_NAME, team, model) or not _valid(_REF, version):
            return None
        wait = _wait(query.get("wait", "0"))
        if wait is None or not _may_read(scope, team):
            return None
        state = scope["app"].state
        answer = version_answer(
            state.db,
            state.readpath,
            team=team,
            model=model,
            version=version,
            wait=long_poll_seconds(wait, state.settings.long_poll_max_seconds),
            if_none_match=_if_none_match(scope),
            receive=receive,
        )
        return await _answered(scope, VERSION_ROUTE, answer)


async def _answered(
    scope: Scope, template: str, answer: Coroutine[Any, Any, Response]
) -> Response | None:
    """``answer``'s response, with the route ``template`` put on the scope; None when it
    fails with a domain or database error (the route then answers it)."""
    try:
        response = await answer
    except (RegistryProblem, SQLAlchemyError):
        return None
    scope["route"] = RouteTemplate(template)
    return response


def _query(scope: Scope) -> dict[str, str] | None:
    """The query parameters (decoded as Starlette does), None if ``pod`` or ``wait`` repeats."""
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    named = [name for name, _ in pairs if name in ("pod", "wait")]
    if len(named) != len(set(named)):
        return None
    return dict(pairs)


def _valid(adapter: TypeAdapter[str], *values: str) -> bool:
    try:
        for value in values:
            adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _wait(value: str) -> float | None:
    return float(value) if _PLAIN_SECONDS.fullmatch(value) else None


def _header_lines(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k == name]


def _if_none_match(scope: Scope) -> str | None:
    return joined_if_none_match(_header_lines(scope, b"if-none-match"))


def _may_read(scope: Scope, team: str) -> bool:
    """The caller is known without I/O and may read in ``team``; the principal is put where
    the request log finds it (``request.state.principal``)."""
    authorization = _header_lines(scope, b"authorization")
    if len(authorization) > 1:
        return False
    app: Any = scope["app"]
    try:
        principal = app.state.authenticator.known(authorization[0] if authorization else None)
    except RegistryProblem:
        return False
    if principal is None or not app.state.policy.allows(principal, team, "read"):
        return False
    scope.setdefault("state", {})["principal"] = principal
    return True
