"""FastAPI dependencies of the registry API: database sessions, artifact store, metrics, settings.

Each reads what ``create_app`` put on ``app.state``. Reads and writes get their session the same
way, ``Reader`` or ``Writer``: a write session's transaction starts with ``BEGIN IMMEDIATE`` on
SQLite (see ``Database.writing``). Both are scoped to the route function: the transaction ends
(commit, or rollback on any exception) after the handler has returned and its response body has
been built, but before the response is sent, so a failed commit is answered as an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from glue.artifacts.store import ArtifactStore
from glue.model_registry.db import Database
from glue.model_registry.metrics import Metrics
from glue.model_registry.settings import RegistrySettings


def database(request: Request) -> Database:
    """Dependency: the app's ``Database`` (for use cases that need several transactions)."""
    db: Database = request.app.state.db
    return db


def reading(request: Request) -> Iterator[Session]:
    """Dependency: a read session on the app's database (rolled back at the end)."""
    with database(request).reading() as session:
        yield session


def writing(request: Request) -> Iterator[Session]:
    """Dependency: a write transaction, committed when the route function has returned."""
    with database(request).writing() as session:
        yield session


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


def limit_param(request: Request, limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> int:
    """Dependency: the page size, 1..``settings.max_page_size``."""
    maximum = app_settings(request).max_page_size
    if limit > maximum:
        raise RequestValidationError(
            [{"loc": ("query", "limit"), "msg": f"must be <= {maximum}", "type": "less_than_equal"}]
        )
    return limit


Db = Annotated[Database, Depends(database)]
Reader = Annotated[Session, Depends(reading, scope="function")]
Writer = Annotated[Session, Depends(writing, scope="function")]
Store = Annotated[ArtifactStore, Depends(artifact_store)]
AppMetrics = Annotated[Metrics, Depends(app_metrics)]
Settings = Annotated[RegistrySettings, Depends(app_settings)]
Limit = Annotated[int, Depends(limit_param)]
