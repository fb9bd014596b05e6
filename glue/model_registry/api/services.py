"""Routes of ``/api/v1/teams/{team}/services``: inference services, their desired model versions
(and canaries), the state and traffic their pods report; and ``.../models/{model}/deployments``
(who serves a model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.types import Receive

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import (
    ModelName,
    ModelQuery,
    Offset,
    PodName,
    PodQuery,
    ReasonQuery,
    ServiceName,
    WindowQuery,
)
from glue.model_registry.auth.policy import Action
from glue.model_registry.db import Database
from glue.model_registry.deps import (
    AppPolicy,
    Caller,
    IfNoneMatch,
    Limit,
    PromoteTeam,
    Reader,
    ReadTeam,
    Settings,
    TeamPath,
    Wait,
    Writer,
    WriteTeam,
    app_settings,
    database,
    read_path,
)
from glue.model_registry.readpath import ReadPath, json_bytes
from glue.model_registry.service import audit, generations, traffic
from glue.model_registry.service import inference as svc
from glue.model_registry.service.common import check_body_team, page_of
from glue.model_registry.service.versions import MAX_VERSION

router = APIRouter(prefix=TEAM_PREFIX, tags=["services"])


@router.get("/models/{model}/deployments", response_model=schemas.Page[schemas.Deployment])
def deployments(
    team: ReadTeam,
    model: ModelName,
    session: Reader,
    limit: Limit,
    settings: Settings,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    state: Annotated[schemas.ModelState | None, Query()] = "READY",
    offset: Offset = 0,
    include_stale: bool = False,
) -> Any:
    """Which services and pods of the team are observed serving the model (default: READY
    only, and only pods that reported within ``observed_ttl_seconds``)."""
    rows, total = svc.deployments(
        session,
        team=team,
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
    team: WriteTeam,
    body: schemas.ServiceCreate,
    response: Response,
    session: Writer,
    settings: Settings,
    who: Caller,
    policy: AppPolicy,
    exist_ok: bool = False,
) -> Any:
    """Create an inference service; ``exist_ok=true`` returns an existing one untouched.

    Initial assignments need ``promoter`` (they decide what is served), except for the
    ServiceAccount the body names as the service's own (its serving agent).
    """
    check_body_team(body.team, team)
    if body.assignments:
        policy.require_initial_assignments(who, team, service_account=body.service_account)
    service, created = svc.create_service(session, team=team, body=body, exist_ok=exist_ok)
    if created:
        audit.record(
            session,
            who,
            team=team,
            action="service.create",
            resource=f"services/{service.name}",
            detail={"assignments": [a.model_dump(exclude_none=True) for a in body.assignments]},
        )
    else:
        response.status_code = 200
    return svc.service_read(session, service, ttl_seconds=settings.observed_ttl_seconds)


@router.get("/services", response_model=schemas.Page[schemas.ServiceRead])
def list_services(
    team: ReadTeam, session: Reader, limit: Limit, settings: Settings, offset: Offset = 0
) -> Any:
    """The team's services ordered by name, with assignments and observed state."""
    rows, total = svc.list_services(session, team=team, limit=limit, offset=offset)
    items = [svc.service_read(session, s, ttl_seconds=settings.observed_ttl_seconds) for s in rows]
    return page_of(items, total, limit=limit, offset=offset)


@router.get("/services/{service}", response_model=schemas.ServiceRead)
def get_service(team: ReadTeam, service: ServiceName, session: Reader, settings: Settings) -> Any:
    """What the service should serve and what each pod is observed serving."""
    found = svc.get_service(session, team=team, name=service)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.put("/services/{service}/assignments", response_model=schemas.ServiceRead)
def set_assignments(
    team: PromoteTeam,
    service: ServiceName,
    body: schemas.AssignmentsSet,
    session: Writer,
    settings: Settings,
    who: Caller,
) -> Any:
    """Replace the service's desired model assignments (needs ``promoter``: it changes what is
    served, as an alias move does)."""
    found = svc.set_assignments(session, team=team, name=service, body=body)
    audit.record(
        session,
        who,
        team=team,
        action="service.assign",
        resource=f"services/{service}/assignments",
        detail={"assignments": [a.model_dump(exclude_none=True) for a in body.assignments]},
    )
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


def canary_cleared(
    session: Writer, who: Caller, team: str, service: str, model: str, version: int, reason: str
) -> None:
    """Record in the audit log that ``service`` stopped serving canary ``version`` of ``model``
    (``canary.clear``), in the clearing write's transaction."""
    audit.record(
        session,
        who,
        team=team,
        action="canary.clear",
        resource=f"services/{service}/canaries/{model}",
        detail={"version": version, "reason": reason},
    )


@router.put("/services/{service}/canaries/{model}", response_model=schemas.ServiceRead)
def set_canary(
    team: PromoteTeam,
    service: ServiceName,
    model: ModelName,
    body: schemas.CanarySet,
    session: Writer,
    settings: Settings,
    who: Caller,
) -> Any:
    """Serve a newer version of an assigned model to a share of the service's pods (needs
    ``promoter``); 422 naming ``body.version`` if it is not newer than the resolved primary."""
    found = svc.set_canary(session, team=team, name=service, model=model, body=body)
    audit.record(
        session,
        who,
        team=team,
        action="canary.set",
        resource=f"services/{service}/canaries/{model}",
        detail=body.model_dump(),
    )
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.delete("/services/{service}/canaries/{model}", response_model=schemas.ServiceRead)
def clear_canary(
    team: PromoteTeam,
    service: ServiceName,
    model: ModelName,
    session: Writer,
    settings: Settings,
    who: Caller,
    reason: ReasonQuery = "",
) -> Any:
    """Stop serving the model's canary (a rollback; needs ``promoter``): the assignment records
    the cleared version and ``reason``, and so does the audit log. Without a canary: unchanged."""
    found, cleared = svc.clear_canary(session, team=team, name=service, model=model, reason=reason)
    if cleared is not None:
        canary_cleared(session, who, team, service, model, cleared, reason)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.get("/services/{service}/traffic", response_model=schemas.TrafficRead)
def service_traffic(
    team: ReadTeam,
    service: ServiceName,
    session: Reader,
    model: ModelQuery,
    window: WindowQuery = 60.0,
) -> Any:
    """Per-version requests, failures, error ratio, p99 and mean latency of ``model`` over the
    last ``window`` seconds, summed over the pods that reported it."""
    return traffic.window(session, team=team, name=service, model=model, window_s=window)


@router.get(
    "/services/{service}/desired",
    response_model=schemas.DesiredState,
    responses={304: {"description": "Not Modified: the If-None-Match ETag is current"}},
)
async def desired(
    request: Request,
    team: ReadTeam,
    service: ServiceName,
    pod: PodQuery,
    wait: Wait,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The versions one pod must serve now (aliases resolved; a canary goes to its share of the
    live pods: those that reported within ``observed_ttl_seconds``, and this one).

    Answers carry a strong ``ETag``; ``If-None-Match`` naming the current one is 304. With
    ``wait`` (seconds) as well, the request is held until the answer changes (200) or the wait
    ends (304): an agent hears of an alias move at once (``glue.model_registry.readpath``).
    """
    return await desired_answer(
        database(request),
        read_path(request),
        app_settings(request).observed_ttl_seconds,
        team=team,
        service=service,
        pod=pod,
        wait=wait,
        if_none_match=if_none_match,
        receive=request.receive,
    )


async def desired_answer(
    db: Database,
    reads: ReadPath,
    ttl_seconds: float,
    *,
    team: str,
    service: str,
    pod: str,
    wait: float,
    if_none_match: str | None,
    receive: Receive | None,
) -> Response:
    """The answer of ``GET .../services/{service}/desired?pod=`` for valid, authorised
    arguments (the route's and ``fastpath.ReadFastPath``'s): see ``ReadPath.read``. Raises
    ``NotFound`` for an unknown service, ``SQLAlchemyError`` when the database fails."""

    def compute() -> tuple[bytes, datetime | None]:
        with db.reading() as session:
            state, until = svc.desired_state_until(
                session, team=team, name=service, pod=pod, ttl_seconds=ttl_seconds
            )
            return json_bytes(state), until

    return await reads.read(
        ("service", team, service, pod),
        generations.service_token,
        compute,
        if_none_match=if_none_match,
        wait=wait,
        receive=receive,
    )


def _pod_access(
    session: Writer,
    who: Caller,
    policy: AppPolicy,
    *,
    team: str,
    service: str,
    pod: str,
    action: Action,
) -> orm.InferenceService:
    """The service, once ``who`` may ``action`` its ``pod`` (``Forbidden`` otherwise):
    membership first (so nobody else learns which services exist), then the pod rule
    (``Policy.require_pod``)."""
    policy.require_team_member(who, team, action)
    found = svc.get_service(session, team=team, name=service)
    policy.require_pod(who, team, pod=pod, service_account=found.service_account, action=action)
    return found


@router.put("/services/{service}/pods/{pod}/status", response_model=schemas.ServiceRead)
def report_status(
    team: TeamPath,
    service: ServiceName,
    pod: PodName,
    body: schemas.PodStatusReport,
    who: Caller,
    policy: AppPolicy,
    session: Writer,
    settings: Settings,
) -> Any:
    """A serving agent reports its pod's full observed state (replaces the previous one).

    Allowed to the ``agent`` role of the team, and to the service's own ServiceAccount for the
    pod its token is bound to. 422 naming ``body.traffic[i]`` for counters of a version the
    report does not observe or the service is not assigned.
    """
    found = _pod_access(session, who, policy, team=team, service=service, pod=pod, action="report")
    traffic.check(found, body)
    found = svc.report_pod_status(
        session,
        team=team,
        name=service,
        pod=pod,
        body=body,
        ttl_seconds=settings.observed_ttl_seconds,
    )
    traffic.record(session, service=found, pod=pod, samples=body.traffic)
    return svc.service_read(session, found, ttl_seconds=settings.observed_ttl_seconds)


@router.delete("/services/{service}/pods/{pod}", status_code=204)
def forget_pod(
    team: TeamPath,
    service: ServiceName,
    pod: PodName,
    who: Caller,
    policy: AppPolicy,
    session: Writer,
) -> Response:
    """Forget a pod's observed state (the pod is gone): writers of the team, or the pod's own
    agent."""
    _pod_access(session, who, policy, team=team, service=service, pod=pod, action="write")
    removed = svc.forget_pod(session, team=team, name=service, pod=pod)
    audit.record(
        session,
        who,
        team=team,
        action="pod.forget",
        resource=f"services/{service}/pods/{pod}",
        detail={"rows": removed},
    )
    return Response(status_code=204)
