"""Routes of ``/api/v1/services``: inference services, their desired model versions and the
state their pods report; and ``/api/v1/models/{model}/deployments`` (who serves a model)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from glue.model_registry import schemas
from glue.model_registry.api import API_PREFIX
from glue.model_registry.api.params import ModelName, Offset, PodName, PodQuery, ServiceName, Team
from glue.model_registry.deps import Limit, Reader, Settings, Writer
from glue.model_registry.service import inference as svc
from glue.model_registry.service.common import page_of
from glue.model_registry.service.versions import MAX_VERSION

router = APIRouter(prefix=API_PREFIX, tags=["services"])


@router.get("/models/{model}/deployments", response_model=schemas.Page[schemas.Deployment])
def deployments(
    model: ModelName,
    session: Reader,
    limit: Limit,
    settings: Settings,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    state: Annotated[schemas.ModelState | None, Query()] = "READY",
    offset: Offset = 0,
    include_stale: bool = False,
) -> Any:
    """Which services and pods are observed serving the model (default: READY only, and
    only pods that reported within ``observed_ttl_seconds``)."""
    rows, total = svc.deployments(
        session,
        model_name=model,
        version=version,
        state=state,
        limit=limit,
        offset=offset,
        ttl_seconds=0 if include_stale else settings.observed_ttl_seconds,
    )
    items = [svc.deployment_read(r) for r in rows]
    return page_of(items, total, limit=limit, offset=offset)


@router.post(
    "/services",
    status_code=201,
    response_model=schemas.ServiceRead,
    responses={200: {"model": schemas.ServiceRead, "description": "exists (exist_ok)"}},
)
def create_service(
    body: schemas.ServiceCreate,
    response: Response,
    session: Writer,
    settings: Settings,
    exist_ok: bool = False,
) -> Any:
    """Create an inference service; ``exist_ok=true`` returns an existing one untouched."""
    service, created = svc.create_service(session, body=body, exist_ok=exist_ok)
    if not created:
        response.status_code = 200
    return svc.service_read(session, service, ttl_seconds=settings.observed_ttl_seconds)


@router.get("/services", response_model=schemas.Page[schemas.ServiceRead])
def list_services(
    session: Reader, limit: Limit, settings: Settings, team: Team = None, offset: Offset = 0
) -> Any:
    """Services ordered by name, with assignments and observed state."""
    rows, total = svc.list_services(session, team=team, limit=limit, offset=offset)
    items = [svc.service_read(session, s, ttl_seconds=settings.observed_ttl_seconds) for s in rows]
    return page_of(items, total, limit=limit, offset=offset)


@router.get("/services/{service}", response_model=schemas.ServiceRead)
def get_service(service: ServiceName, session: Reader, settings: Settings) -> Any:
    """What the service should serve and what each pod is observed serving."""
    found = svc.get_service(session, name=service)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.put("/services/{service}/assignments", response_model=schemas.ServiceRead)
def set_assignments(
    service: ServiceName, body: schemas.AssignmentsSet, session: Writer, settings: Settings
) -> Any:
    """Replace the service's desired model assignments."""
    found = svc.set_assignments(session, name=service, body=body)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.get("/services/{service}/desired", response_model=schemas.DesiredState)
def desired(service: ServiceName, session: Reader, pod: PodQuery) -> Any:
    """The versions one pod must serve now (aliases resolved, canary share applied)."""
    return svc.desired_state(session, name=service, pod=pod)


@router.put("/services/{service}/pods/{pod}/status", response_model=schemas.ServiceRead)
def report_status(
    service: ServiceName,
    pod: PodName,
    body: schemas.PodStatusReport,
    session: Writer,
    settings: Settings,
) -> Any:
    """A serving agent reports its pod's full observed state (replaces the previous one)."""
    found = svc.report_pod_status(session, name=service, pod=pod, body=body)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.delete("/services/{service}/pods/{pod}", status_code=204)
def forget_pod(service: ServiceName, pod: PodName, session: Writer) -> Response:
    """Forget a pod's observed state (the pod is gone)."""
    svc.forget_pod(session, name=service, pod=pod)
    return Response(status_code=204)
