"""The registry's FastAPI application: routers, problem+json errors, body limit, metrics.

Run it with ``python -m glue.model_registry`` (uvicorn) or build it in tests with
``create_app(RegistrySettings(...))``. The OpenAPI document is served at ``/openapi.json``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.db import Database
from glue.model_registry.errors import RegistryProblem
from glue.model_registry.service import (
    aliases,
    datasets,
    inference,
    models,
    registration,
    versions,
)
from glue.model_registry.service.common import check_artifact_uri, page_of
from glue.model_registry.settings import RegistrySettings

log = structlog.get_logger("kubeai.registry")

PROBLEM = "application/problem+json"
ModelName = Annotated[str, Path(pattern=schemas.DNS1123_LABEL, max_length=63)]
ServiceName = Annotated[str, Path(pattern=schemas.DNS1123_LABEL, max_length=63)]
AliasName = Annotated[str, Path(pattern=schemas.ALIAS_PATTERN, max_length=63)]
PodName = Annotated[str, Path(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)]
VersionRef = Annotated[
    str, Path(pattern=r"^([1-9][0-9]{0,9}|[a-z]([-a-z0-9]*[a-z0-9])?)$", max_length=63)
]
Team = Annotated[str | None, Query(pattern=schemas.DNS1123_LABEL, max_length=63)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def reading(request: Request) -> Iterator[Session]:
    """Dependency: a read session on the app's database."""
    with request.app.state.db.reading() as session:
        yield session


def limit_param(request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> int:
    """Dependency: the page size, 1..``settings.max_page_size``."""
    maximum = request.app.state.settings.max_page_size
    if limit > maximum:
        raise RequestValidationError(
            [{"loc": ("query", "limit"), "msg": f"must be <= {maximum}", "type": "less_than_equal"}]
        )
    return limit


Reader = Annotated[Session, Depends(reading)]
Limit = Annotated[int, Depends(limit_param)]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {PROBLEM: {}}}
    for status in (400, 404, 409, 413, 422, 503)
}


class Metrics:
    """Prometheus metrics of one app instance (own ``CollectorRegistry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "kubeai_registry_request_seconds",
            "Registry HTTP request latency in seconds, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registrations = Counter(
            "kubeai_registry_registrations_total",
            "Model version registrations by outcome (created, existing, refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.alias_moves = Counter(
            "kubeai_registry_alias_moves_total",
            "Alias moves by kind (set, rollback).",
            ["kind"],
            registry=self.registry,
        )

    def count_registration(self, outcome: registration.Outcome) -> None:
        """Count one version registration by its outcome."""
        self.registrations.labels(outcome).inc()


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem(
    status: int, title: str, detail: str, *, instance: str | None, errors: list[dict[str, Any]]
) -> JSONResponse:
    """An RFC 9457 problem+json response."""
    body = schemas.Problem(
        title=title, status=status, detail=detail, instance=instance, errors=errors
    )
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM)


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


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """Build the registry app. Runs migrations at start when ``settings.migrate_on_start``."""
    settings = settings or RegistrySettings()
    db = Database(settings.database_url)
    store = ArtifactStore(settings.artifacts)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        if settings.migrate_on_start:
            db.migrate()
        log.info("registry started", backend=db.backend)
        yield
        db.dispose()

    app = FastAPI(
        title="KubeAI model registry",
        version="1.0.0",
        summary="Models, versions with lineage, aliases and inference services of KubeAI.",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
    )
    app.state.db = db
    app.state.metrics = metrics
    app.state.settings = settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - start
        metrics.request_seconds.labels(request.method, path, str(response.status_code)).observe(
            elapsed
        )
        if path not in ("/metrics", "/healthz"):
            log.info(
                "request",
                method=request.method,
                route=path,
                status=response.status_code,
                seconds=round(elapsed, 5),
            )
        return response

    @app.exception_handler(RegistryProblem)
    async def _domain(request: Request, exc: RegistryProblem) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
        return problem(exc.status, exc.title, exc.detail, instance=request.url.path, errors=errors)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                # A JSON syntax error's loc holds a character offset, not a field: name the body.
                "field": "body"
                if err.get("type") == "json_invalid"
                else _field_of(err.get("loc", ())),
                "message": err.get("msg", "invalid")
                + (
                    f" ({err['ctx']['error']})"
                    if err.get("type") == "json_invalid"
                    and isinstance(err.get("ctx"), dict)
                    and "error" in err["ctx"]
                    else ""
                ),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code, str(exc.detail), str(exc.detail), instance=request.url.path, errors=[]
        )

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error", error=str(exc.orig))
        return problem(
            503,
            "Service unavailable",
            "the registry database is unavailable; retry later",
            instance=request.url.path,
            errors=[],
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(
            500,
            "Internal error",
            "unexpected error; it has been logged",
            instance=request.url.path,
            errors=[],
        )

    api = APIRouter(prefix="/api/v1")

    # -- models ---------------------------------------------------------------------------------

    @api.post("/models", status_code=201, response_model=schemas.ModelRead, tags=["models"])
    def create_model(body: schemas.ModelCreate) -> schemas.ModelRead:
        """Register a new model (name unique, DNS-1123 label)."""
        with db.writing() as session:
            model = models.create_model(session, body=body)
            return models.model_read(model)

    @api.get("/models", response_model=schemas.Page[schemas.ModelRead], tags=["models"])
    def list_models(session: Reader, limit: Limit, team: Team = None, offset: Offset = 0) -> Any:
        """List models ordered by name."""
        rows, total = models.list_models(session, team=team, limit=limit, offset=offset)
        return page_of([models.model_read(m) for m in rows], total, limit=limit, offset=offset)

    @api.get("/models/{model}", response_model=schemas.ModelRead, tags=["models"])
    def get_model(model: ModelName, session: Reader) -> schemas.ModelRead:
        """One model with its aliases."""
        return models.model_read(models.get_model(session, name=model))

    @api.patch("/models/{model}", response_model=schemas.ModelRead, tags=["models"])
    def update_model(model: ModelName, body: schemas.ModelUpdate) -> schemas.ModelRead:
        """Change a model's description, task, framework or labels."""
        with db.writing() as session:
            return models.model_read(models.update_model(session, name=model, body=body))

    @api.post(
        "/models/{model}/versions",
        status_code=201,
        response_model=schemas.VersionRead,
        tags=["versions"],
        responses={200: {"model": schemas.VersionRead, "description": "already registered"}},
    )
    def register_version(
        model: ModelName, body: schemas.VersionCreate, response: Response
    ) -> schemas.VersionRead:
        """Register a version; the same ``source.uid`` returns the existing one (200)."""
        version, created = registration.register_version(
            db=db,
            store=store,
            model_name=model,
            body=body,
            verify_config=settings.verify_config,
            on_outcome=metrics.count_registration,
        )
        if not created:
            response.status_code = 200
        return version

    @api.get(
        "/models/{model}/versions",
        response_model=schemas.Page[schemas.VersionRead],
        tags=["versions"],
    )
    def list_versions(
        model: ModelName,
        session: Reader,
        limit: Limit,
        offset: Offset = 0,
        source_uid: Annotated[str | None, Query(max_length=128)] = None,
        dataset: Annotated[str | None, Query(pattern=schemas.DNS1123_LABEL, max_length=63)] = None,
    ) -> Any:
        """A model's versions, newest first; filter by producing ``source_uid`` or ``dataset``."""
        rows, total = versions.list_versions(
            session,
            model_name=model,
            limit=limit,
            offset=offset,
            source_uid=source_uid,
            dataset=dataset,
        )
        return page_of([versions.version_read(v) for v in rows], total, limit=limit, offset=offset)

    @api.get(
        "/models/{model}/versions/{version}",
        response_model=schemas.VersionRead,
        tags=["versions"],
    )
    def get_version(model: ModelName, version: VersionRef, session: Reader) -> schemas.VersionRead:
        """One version by number or alias name."""
        return versions.version_read(versions.get_version(session, model_name=model, ref=version))

    @api.put(
        "/models/{model}/aliases/{alias}", response_model=schemas.AliasEventRead, tags=["aliases"]
    )
    def set_alias(model: ModelName, alias: AliasName, body: schemas.AliasSet) -> Any:
        """Point an alias at a version (promotion); the move is audited."""
        with db.writing() as session:
            event = aliases.set_alias(session, model_name=model, alias=alias, body=body)
            result = aliases.alias_event_read(event, model)
        metrics.alias_moves.labels("set").inc()
        log.info(
            "alias moved",
            model=model,
            alias=alias,
            frm=result.from_version,
            to=result.to_version,
            actor=body.actor,
        )
        return result

    @api.post(
        "/models/{model}/aliases/{alias}/rollback",
        response_model=schemas.AliasEventRead,
        tags=["aliases"],
    )
    def rollback_alias(
        model: ModelName, alias: AliasName, body: schemas.AliasRollback | None = None
    ) -> Any:
        """Move an alias back to where its last move took it from (the body is optional).

        Rollback undoes the last move, and is itself a move: a second rollback returns to the
        version the first one left.
        """
        body = body or schemas.AliasRollback()
        with db.writing() as session:
            event = aliases.rollback_alias(session, model_name=model, alias=alias, body=body)
            result = aliases.alias_event_read(event, model)
        metrics.alias_moves.labels("rollback").inc()
        log.info("alias rolled back", model=model, alias=alias, to=result.to_version)
        return result

    @api.get(
        "/models/{model}/aliases/history",
        response_model=schemas.Page[schemas.AliasEventRead],
        tags=["aliases"],
    )
    def alias_history(model: ModelName, session: Reader, limit: Limit, offset: Offset = 0) -> Any:
        """Audit log of the model's alias moves, newest first."""
        rows, total = aliases.alias_history(session, model_name=model, limit=limit, offset=offset)
        items = [aliases.alias_event_read(e, model) for e in rows]
        return page_of(items, total, limit=limit, offset=offset)

    @api.get(
        "/models/{model}/deployments",
        response_model=schemas.Page[schemas.Deployment],
        tags=["services"],
    )
    def deployments(
        model: ModelName,
        session: Reader,
        limit: Limit,
        version: Annotated[int | None, Query(ge=1, le=versions.MAX_VERSION)] = None,
        state: Annotated[schemas.ModelState | None, Query()] = "READY",
        offset: Offset = 0,
        include_stale: bool = False,
    ) -> Any:
        """Which services and pods are observed serving the model (default: READY only, and
        only pods that reported within ``observed_ttl_seconds``)."""
        rows, total = inference.deployments(
            session,
            model_name=model,
            version=version,
            state=state,
            limit=limit,
            offset=offset,
            ttl_seconds=0 if include_stale else settings.observed_ttl_seconds,
        )
        items = [inference.deployment_read(r) for r in rows]
        return page_of(items, total, limit=limit, offset=offset)

    # -- datasets -------------------------------------------------------------------------------

    @api.post("/datasets", status_code=201, response_model=schemas.DatasetRead, tags=["datasets"])
    def register_dataset(body: schemas.DatasetCreate, response: Response) -> Any:
        """Record a dataset; the same name and manifest again returns it (200)."""
        check_artifact_uri(store=store, uri=body.uri, field="body.uri")
        with db.writing() as session:
            dataset, created = datasets.register_dataset(session, body=body)
            result = datasets.dataset_read(dataset)
        if not created:
            response.status_code = 200
        return result

    @api.get("/datasets", response_model=schemas.Page[schemas.DatasetRead], tags=["datasets"])
    def list_datasets(session: Reader, limit: Limit, team: Team = None, offset: Offset = 0) -> Any:
        """Datasets ordered by name."""
        rows, total = datasets.list_datasets(session, team=team, limit=limit, offset=offset)
        return page_of([datasets.dataset_read(d) for d in rows], total, limit=limit, offset=offset)

    @api.get("/datasets/{dataset}", response_model=schemas.DatasetRead, tags=["datasets"])
    def get_dataset(dataset: ModelName, session: Reader) -> Any:
        """One dataset."""
        return datasets.dataset_read(datasets.get_dataset(session, name=dataset))

    # -- services -------------------------------------------------------------------------------

    @api.post(
        "/services",
        status_code=201,
        response_model=schemas.ServiceRead,
        tags=["services"],
        responses={200: {"model": schemas.ServiceRead, "description": "exists (exist_ok)"}},
    )
    def create_service(
        body: schemas.ServiceCreate, response: Response, exist_ok: bool = False
    ) -> Any:
        """Create an inference service; ``exist_ok=true`` returns an existing one untouched."""
        with db.writing() as session:
            service, created = inference.create_service(session, body=body, exist_ok=exist_ok)
            result = inference.service_read(
                ttl_seconds=settings.observed_ttl_seconds, session=session, service=service
            )
        if not created:
            response.status_code = 200
        return result

    @api.get("/services", response_model=schemas.Page[schemas.ServiceRead], tags=["services"])
    def list_services(session: Reader, limit: Limit, team: Team = None, offset: Offset = 0) -> Any:
        """Services ordered by name, with assignments and observed state."""
        rows, total = inference.list_services(session, team=team, limit=limit, offset=offset)
        items = [
            inference.service_read(
                ttl_seconds=settings.observed_ttl_seconds, session=session, service=s
            )
            for s in rows
        ]
        return page_of(items, total, limit=limit, offset=offset)

    @api.get("/services/{service}", response_model=schemas.ServiceRead, tags=["services"])
    def get_service(service: ServiceName, session: Reader) -> Any:
        """What the service should serve and what each pod is observed serving."""
        return inference.service_read(
            ttl_seconds=settings.observed_ttl_seconds,
            session=session,
            service=inference.get_service(session, name=service),
        )

    @api.put(
        "/services/{service}/assignments", response_model=schemas.ServiceRead, tags=["services"]
    )
    def set_assignments(service: ServiceName, body: schemas.AssignmentsSet) -> Any:
        """Replace the service's desired model assignments."""
        with db.writing() as session:
            found = inference.set_assignments(session, name=service, body=body)
            return inference.service_read(
                ttl_seconds=settings.observed_ttl_seconds, session=session, service=found
            )

    @api.get("/services/{service}/desired", response_model=schemas.DesiredState, tags=["services"])
    def desired(
        service: ServiceName,
        session: Reader,
        pod: Annotated[str, Query(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)],
    ) -> Any:
        """The versions one pod must serve now (aliases resolved, canary share applied)."""
        return inference.desired_state(session, name=service, pod=pod)

    @api.put(
        "/services/{service}/pods/{pod}/status",
        response_model=schemas.ServiceRead,
        tags=["services"],
    )
    def report_status(service: ServiceName, pod: PodName, body: schemas.PodStatusReport) -> Any:
        """A serving agent reports its pod's full observed state (replaces the previous one)."""
        with db.writing() as session:
            found = inference.report_pod_status(session, name=service, pod=pod, body=body)
            return inference.service_read(
                ttl_seconds=settings.observed_ttl_seconds, session=session, service=found
            )

    @api.delete("/services/{service}/pods/{pod}", status_code=204, tags=["services"])
    def forget_pod(service: ServiceName, pod: PodName) -> Response:
        """Forget a pod's observed state (the pod is gone)."""
        with db.writing() as session:
            inference.forget_pod(session, name=service, pod=pod)
        return Response(status_code=204)

    app.include_router(api)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> dict[str, str]:
        """Readiness: the database answers."""
        with db.reading() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "database": db.backend}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus exposition of this app's metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
