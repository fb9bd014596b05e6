"""Operational routes at the root: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from glue.model_registry.deps import AppMetrics, Db, Reader, guard

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (on the event loop: it needs no worker thread, so requests
    waiting on slow dependencies cannot starve the probe)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(session: Reader, db: Db) -> dict[str, str]:
    """Readiness: the database answers."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.backend}


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(guard("protect_metrics"))])
def prometheus(metrics: AppMetrics) -> Response:
    """Prometheus exposition of this app's metrics (authenticated when
    ``settings.auth.protect_metrics``)."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
