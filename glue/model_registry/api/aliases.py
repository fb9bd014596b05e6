"""Routes of ``/api/v1/teams/{team}/models/{model}/aliases``: move (promote), roll back, history."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter

from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import AliasName, ModelName, Offset
from glue.model_registry.api.services import canary_cleared
from glue.model_registry.deps import (
    AppMetrics,
    Caller,
    Limit,
    PromoteTeam,
    Reader,
    ReadTeam,
    Writer,
)
from glue.model_registry.service import aliases as svc
from glue.model_registry.service import audit
from glue.model_registry.service.common import page_of

log = structlog.get_logger("kubeai.registry")

router = APIRouter(prefix=TEAM_PREFIX, tags=["aliases"])


def _moved(
    session: Writer, who: Caller, team: str, model: str, move: svc.Move, *, kind: str
) -> schemas.AliasEventRead:
    """The move's API view, recorded in the audit log as ``alias.<kind>``, and each canary it
    cleared as ``canary.clear``."""
    result = svc.alias_event_read(move.event, model)
    audit.record(
        session,
        who,
        team=team,
        action=f"alias.{kind}",
        resource=f"models/{result.model}/aliases/{result.alias}",
        detail={"from": result.from_version, "to": result.to_version, "reason": result.reason},
    )
    for service, version in move.cleared:
        canary_cleared(session, who, team, service.name, model, version, move.event.reason)
    return result


@router.put("/models/{model}/aliases/{alias}", response_model=schemas.AliasEventRead)
def set_alias(
    team: PromoteTeam,
    model: ModelName,
    alias: AliasName,
    body: schemas.AliasSet,
    session: Writer,
    who: Caller,
    metrics: AppMetrics,
) -> Any:
    """Point an alias at a version (promotion); the move is audited with the caller's name."""
    move = svc.set_alias(
        session, team=team, model_name=model, alias=alias, body=body, actor=who.name
    )
    result = _moved(session, who, team, model, move, kind="set")
    metrics.alias_moves.labels("set").inc()
    log.info(
        "alias moved",
        team=team,
        model=model,
        alias=alias,
        frm=result.from_version,
        to=result.to_version,
        actor=who.name,
    )
    return result


@router.post("/models/{model}/aliases/{alias}/rollback", response_model=schemas.AliasEventRead)
def rollback_alias(
    team: PromoteTeam,
    model: ModelName,
    alias: AliasName,
    session: Writer,
    who: Caller,
    metrics: AppMetrics,
    body: schemas.AliasRollback | None = None,
) -> Any:
    """Move an alias back to where its last move took it from (the body is optional).

    Rollback undoes the last move, and is itself a move: a second rollback returns to the
    version the first one left.
    """
    move = svc.rollback_alias(
        session,
        team=team,
        model_name=model,
        alias=alias,
        body=body or schemas.AliasRollback(),
        actor=who.name,
    )
    result = _moved(session, who, team, model, move, kind="rollback")
    metrics.alias_moves.labels("rollback").inc()
    log.info("alias rolled back", team=team, model=model, alias=alias, to=result.to_version)
    return result


@router.get("/models/{model}/aliases/history", response_model=schemas.Page[schemas.AliasEventRead])
def alias_history(
    team: ReadTeam, model: ModelName, session: Reader, limit: Limit, offset: Offset = 0
) -> Any:
    """The model's alias moves, newest first, each with the principal that made it."""
    rows, total = svc.alias_history(
        session, team=team, model_name=model, limit=limit, offset=offset
    )
    items = [svc.alias_event_read(e, model) for e in rows]
    return page_of(items, total, limit=limit, offset=offset)
