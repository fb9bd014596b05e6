"""FastAPI dependencies of the registry API: database sessions, artifact store, metrics, settings,
the authenticated caller and the team permission checks.

Each reads what ``create_app`` put on ``app.state``. Reads and writes get their session the same
way, ``Reader`` or ``Writer``: a write session's transaction starts with ``BEGIN IMMEDIATE`` on
SQLite (see ``Database.writing``). Both are scoped to the route function: the transaction ends
(commit, or rollback on any exception) after the handler has returned and its response body has
been built, but before the response is sent, so a failed commit is answered as an error.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.auth.authenticator import Authenticator
from glue.model_registry.auth.policy import Action, Policy
from glue.model_registry.auth.principal import Principal, Unauthenticated
from glue.model_registry.db import Database
from glue.model_registry.metrics import Metrics
from glue.model_registry.readpath import ReadPath, joined_if_none_match, long_poll_seconds
from glue.model_registry.settings import RegistrySettings

T = TypeVar("T")


def on_loop(accessor: Callable[[Request], T]) -> Callable[[Request], Awaitable[T]]:
    """``accessor`` as an ``async`` dependency: FastAPI runs a plain ``def`` dependency in the
    threadpool (a thread hand-off and back per dependency and request), an ``async`` one on the
    event loop. Only for accessors that do no blocking I/O (they read ``app.state``)."""

    async def dependency(request: Request) -> T:
        return accessor(request)

    dependency.__name__ = accessor.__name__
    dependency.__doc__ = accessor.__doc__
    return dependency


def database(request: Request) -> Database:
    """Dependency: the app's ``Database`` (for use cases that need several transactions)."""
    db: Database = request.app.state.db
    return db


def reading(request: Request) -> Iterator[Session]:
    """Dependency: a read session on the app's database (rolled back at the end)."""
    with database(request).reading() as session:
        yield session


def writing(request: Request) -> Iterator[Session]:
    """Dependency: a write transaction, committed when the route function has returned; then
    this process's long-polls re-check their answers at once (``ReadPath``)."""
    with database(request).writing() as session:
        yield session
    read_path(request).watcher.poke()


def read_path(request: Request) -> ReadPath:
    """The app's read path (answer cache, validity check, long-poll watcher)."""
    found: ReadPath = request.app.state.readpath
    return found


def artifact_store(request: Request) -> ArtifactStore:
    """Dependency: the app's artifact store."""
    store: ArtifactStore = request.app.state.store
    return store


def app_metrics(request: Request) -> Metrics:
    """Dependency: the app's Prometheus metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def app_settings(request: Request) -> RegistrySettings:
    """Dependency: the app's settings."""
    settings: RegistrySettings = request.app.state.settings
    return settings


async def limit_param(request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> int:
    """Dependency: the page size, 1..``settings.max_page_size``."""
    maximum = app_settings(request).max_page_size
    if limit > maximum:
        raise RequestValidationError(
            [{"loc": ("query", "limit"), "msg": f"must be <= {maximum}", "type": "less_than_equal"}]
        )
    return limit


#: The OpenAPI security scheme: every API operation takes a bearer token (a Kubernetes
#: ServiceAccount token with the registry's audience, an OIDC token, or a static token).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT or opaque",
    description="A Kubernetes ServiceAccount token (audience kubeai-registry), an OIDC token "
    "or a static token. Not needed by a registry that runs open on loopback.",
)


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """Dependency: the authenticated caller (401 ``Unauthenticated`` when there is none).

    The raw ``Authorization`` header is given to the app's ``Authenticator`` (so a non-bearer
    scheme gets a message naming it); the principal is kept on ``request.state.principal``
    for the request log. Answered on the event loop when no I/O is needed
    (``Authenticator.known``), else in the threadpool (an OIDC or TokenReview check).
    """
    del credentials  # declared for the OpenAPI security scheme; the header is read below
    authenticator: Authenticator = request.app.state.authenticator
    headers = request.headers.getlist("authorization")
    if len(headers) > 1 and not authenticator.open:
        raise Unauthenticated("send one Authorization header, not several")
    header = headers[0] if headers else None
    principal = authenticator.known(header)
    if principal is None:
        principal = await run_in_threadpool(authenticator.authenticate, header)
    request.state.principal = principal
    return principal


def authenticated(request: Request) -> Principal:
    """The caller that ``caller`` authenticated for this request (``request.state.principal``),
    for a route whose team dependency (``ReadTeam``, ``WriteTeam``, ``PromoteTeam``) already
    resolved it: declaring ``Caller`` there as well has FastAPI resolve the caller's
    sub-dependencies (the bearer scheme) a second time per request before it finds the cached
    principal. Raises ``Unauthenticated`` if no ``caller`` ran for the request."""
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):
        raise Unauthenticated("no caller was authenticated for this request")
    return found


def policy(request: Request) -> Policy:
    """Dependency: the app's authorization policy."""
    found: Policy = request.app.state.policy
    return found


TeamPath = Annotated[
    str, Path(pattern=schemas.DNS1123_LABEL, max_length=63, description="The owning team.")
]


def _team_allowing(action: Action) -> Any:
    async def dependency(request: Request, team: TeamPath, who: Caller) -> str:
        policy(request).require(who, team, action)
        return team

    dependency.__name__ = f"team_{action}"
    dependency.__doc__ = (
        f"Dependency: the path's team, after checking the caller may {action} in it."
    )
    return dependency


async def wait_param(
    request: Request,
    wait: Annotated[
        float,
        Query(
            description="Long-poll: with If-None-Match naming the current answer, hold the "
            "request up to this many seconds until the answer changes (then 200), else 304. "
            "More than the registry's maximum (KUBEAI_REGISTRY_LONG_POLL_MAX_SECONDS) is "
            "taken as the maximum; 0: answer at once.",
            # Documented, and checked below with a message naming what is valid (pydantic's
            # ``ge`` would tell a nan it must be "greater than or equal to 0").
            json_schema_extra={"minimum": 0},
        ),
    ] = 0,
) -> float:
    """Dependency: the long-poll ``wait`` in seconds, a finite number >= 0 (else a 422 naming
    ``query.wait``), clamped to ``settings.long_poll_max_seconds`` (0 there: long-polls off)."""
    if not (math.isfinite(wait) and wait >= 0):  # also refuses nan and inf
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "wait"),
                    "msg": "must be a finite number of seconds, 0 or more",
                    "type": "greater_than_equal",
                }
            ]
        )
    return long_poll_seconds(wait, app_settings(request).long_poll_max_seconds)


async def if_none_match_param(
    request: Request,
    if_none_match: Annotated[
        str | None,
        Header(description="ETags the client holds: 304 Not Modified when one is current."),
    ] = None,
) -> str | None:
    """Dependency: every ``If-None-Match`` header line as one list (RFC 9110 5.3: repeated
    lines are one comma-separated value), or None."""
    del if_none_match  # declared for the OpenAPI document; every line is read below
    return joined_if_none_match(request.headers.getlist("if-none-match"))


def guard(setting: str) -> Any:
    """Dependency factory: authenticate the caller when ``settings.auth.<setting>`` is true."""

    def dependency(request: Request) -> None:
        if getattr(app_settings(request).auth, setting):
            request.app.state.authenticator.authenticate(request.headers.get("authorization"))

    return dependency


Caller = Annotated[Principal, Depends(caller)]
AppPolicy = Annotated[Policy, Depends(on_loop(policy))]
#: The path's ``team``, once the caller may read / write / promote in it (else 401 or 403).
ReadTeam = Annotated[str, Depends(_team_allowing("read"))]
WriteTeam = Annotated[str, Depends(_team_allowing("write"))]
PromoteTeam = Annotated[str, Depends(_team_allowing("promote"))]
Db = Annotated[Database, Depends(on_loop(database))]
Reader = Annotated[Session, Depends(reading, scope="function")]
Writer = Annotated[Session, Depends(writing, scope="function")]
Store = Annotated[ArtifactStore, Depends(on_loop(artifact_store))]
AppMetrics = Annotated[Metrics, Depends(on_loop(app_metrics))]
Settings = Annotated[RegistrySettings, Depends(on_loop(app_settings))]
Limit = Annotated[int, Depends(limit_param)]
#: The long-poll ``wait`` of the read path (seconds, 0: answer at once).
Wait = Annotated[float, Depends(wait_param)]
#: The ``If-None-Match`` request header(s) (ETags of answers the client holds), as one list.
IfNoneMatch = Annotated[str | None, Depends(if_none_match_param)]
