"""The registry-wide audit log: every write, with the authenticated principal that made it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.auth.principal import Principal
from glue.model_registry.service.common import page


def record(
    session: Session,
    principal: Principal,
    *,
    team: str,
    action: str,
    resource: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to ``session``'s transaction (it commits or rolls back with the write).

    ``action`` is ``<resource>.<verb>`` (``alias.set``), ``resource`` the written object's API
    path relative to the team (``models/digits/aliases/production``).
    """
    session.add(
        orm.AuditEvent(
            principal=principal.name,
            method=principal.method,
            team=team,
            action=action,
            resource=resource,
            detail=detail or {},
        )
    )


def events(
    session: Session,
    *,
    teams: set[str] | None,
    team: str | None,
    action: str | None,
    principal: str | None,
    limit: int,
    offset: int,
) -> tuple[list[orm.AuditEvent], int]:
    """Audit events, newest first, of ``teams`` (None: all) filtered by team/action/principal."""
    query = select(orm.AuditEvent).order_by(orm.AuditEvent.id.desc())
    if teams is not None:
        query = query.where(orm.AuditEvent.team.in_(sorted(teams)))
    if team is not None:
        query = query.where(orm.AuditEvent.team == team)
    if action is not None:
        query = query.where(orm.AuditEvent.action == action)
    if principal is not None:
        query = query.where(orm.AuditEvent.principal == principal)
    return page(session, query, limit=limit, offset=offset)


def event_read(event: orm.AuditEvent) -> schemas.AuditEventRead:
    """API view of an audit event."""
    return schemas.AuditEventRead(
        id=event.id,
        at=event.at,
        principal=event.principal,
        method=event.method,
        team=event.team,
        action=event.action,
        resource=event.resource,
        detail=event.detail,
    )
