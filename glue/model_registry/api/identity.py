"""Routes of ``/api/v1/whoami`` (the caller as the registry sees it) and ``/api/v1/audit``
(the registry-wide audit log of writes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from glue.model_registry import schemas
from glue.model_registry.api import API_PREFIX
from glue.model_registry.api.params import ActionQuery, Offset, PrincipalQuery, Team
from glue.model_registry.deps import AppPolicy, Caller, Limit, Reader
from glue.model_registry.service import audit
from glue.model_registry.service.common import page_of

router = APIRouter(prefix=API_PREFIX, tags=["identity"])


@router.get("/whoami", response_model=schemas.WhoAmI)
def whoami(who: Caller, policy: AppPolicy) -> schemas.WhoAmI:
    """The authenticated caller: name, groups, how it authenticated and its roles per team."""
    return schemas.WhoAmI(
        name=who.name,
        groups=sorted(who.groups),
        method=who.method,
        pod=who.pod,
        admin=policy.is_admin(who),
        teams=policy.role_map(who),
    )


@router.get("/audit", response_model=schemas.Page[schemas.AuditEventRead])
def audit_log(
    who: Caller,
    policy: AppPolicy,
    session: Reader,
    limit: Limit,
    team: Team = None,
    action: ActionQuery = None,
    principal: PrincipalQuery = None,
    offset: Offset = 0,
) -> Any:
    """Writes, newest first, of every team the caller may read (admins: all teams)."""
    if team is not None:
        policy.require(who, team, "read", field="query.team")
    rows, total = audit.events(
        session,
        teams=policy.readable_teams(who),
        team=team,
        action=action,
        principal=principal,
        limit=limit,
        offset=offset,
    )
    return page_of([audit.event_read(e) for e in rows], total, limit=limit, offset=offset)
