"""The registry's FastAPI application: ``create_app`` wires settings, middleware, problem+json
error handlers and the routers of ``glue.model_registry.api``.

Run it with ``python -m glue.model_registry`` (uvicorn) or build it in tests with
``create_app(RegistrySettings(...))``. The OpenAPI document is served at ``/openapi.json``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from glue.artifacts.settings import nested_env_prefix
from glue.artifacts.store import ArtifactStore
from glue.model_registry.api import (
    aliases,
    datasets,
    docs,
    fastpath,
    identity,
    middleware,
    models,
    openapi,
    ops,
    problems,
    services,
    versions,
)
from glue.model_registry.auth.authenticator import Authenticator
from glue.model_registry.auth.policy import Policy
from glue.model_registry.db import Database
from glue.model_registry.errors import RegistryProblem
from glue.model_registry.metrics import Metrics
from glue.model_registry.readpath import ReadPath
from glue.model_registry.settings import RegistrySettings

log = structlog.get_logger("kubeai.registry")


def _without_opentelemetry() -> dict[str, Any]:
    """``FastAPI(...)`` arguments turning its native OpenTelemetry bridge off, where it has one
    (newer FastAPI releases): it asks OpenTelemetry's global providers on every request whether
    someone configured them, about 5% of a registration's server CPU. The registry's telemetry
    is its Prometheus metrics and structlog lines."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the schema at start when ``settings.migrate_on_start``; close the pool at the end."""
    db: Database = app.state.db
    if app.state.settings.migrate_on_start:
        db.migrate()
    log.info(
        "registry started", backend=db.backend, authentication=not app.state.authenticator.open
    )
    yield
    await app.state.readpath.watcher.close()
    app.state.readpath.close()
    app.state.authenticator.close()
    db.dispose()


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """Build the registry app. Runs migrations at start when ``settings.migrate_on_start``."""
    settings = settings or RegistrySettings()
    app = FastAPI(
        title="KubeAI model registry",
        version="1.0.0",
        summary="Models, versions with lineage, aliases and inference services of KubeAI.",
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **_without_opentelemetry(),
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.store = ArtifactStore(
        settings.artifacts, env_prefix=nested_env_prefix(RegistrySettings, "artifacts")
    )
    app.state.metrics = Metrics()
    app.state.authenticator = Authenticator(settings.auth)
    app.state.policy = Policy(settings.auth)
    app.state.readpath = ReadPath(
        app.state.db,
        cache_size=settings.read_cache_size,
        check_interval=settings.long_poll_check_seconds,
        max_waiters=settings.long_poll_max_waiters,
        metrics=app.state.metrics,
    )

    # The last added is the outermost:
    # Observe > ErrorsAsProblems > BodyLimit > DocumentedMethods > ReadFastPath.
    app.add_middleware(fastpath.ReadFastPath)
    app.add_middleware(middleware.DocumentedMethods)
    app.add_middleware(middleware.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(middleware.ErrorsAsProblems)
    app.add_middleware(middleware.Observe)

    app.exception_handler(RegistryProblem)(problems.domain_problem)
    app.exception_handler(RequestValidationError)(problems.invalid_request)
    app.exception_handler(StarletteHTTPException)(problems.http_problem)
    app.exception_handler(OperationalError)(problems.database_down)
    app.exception_handler(Exception)(problems.unexpected)

    for resource in (models, versions, aliases, services, datasets, identity, ops, docs):
        app.include_router(resource.router)
    openapi.install(app, settings)
    return app
