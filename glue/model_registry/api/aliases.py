"""Routes of ``/api/v1/models/{model}/aliases``: move (promote), roll back, audit log."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter

from glue.model_registry import schemas
from glue.model_registry.api import API_PREFIX
from glue.model_registry.api.params import AliasName, ModelName, Offset
from glue.model_registry.deps import AppMetrics, Limit, Reader, Writer
from glue.model_registry.service import aliases as svc
from glue.model_registry.service.common import page_of

log = structlog.get_logger("kubeai.registry")

router = APIRouter(prefix=API_PREFIX, tags=["aliases"])


@router.put("/models/{model}/aliases/{alias}", response_model=schemas.AliasEventRead)
def set_alias(
    model: ModelName, alias: AliasName, body: schemas.AliasSet, session: Writer, metrics: AppMetrics
) -> Any:
    """Point an alias at a version (promotion); the move is audited."""
    event = svc.set_alias(session, model_name=model, alias=alias, body=body)
    result = svc.alias_event_read(event, model)
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


@router.post("/models/{model}/aliases/{alias}/rollback", response_model=schemas.AliasEventRead)
def rollback_alias(
    model: ModelName,
    alias: AliasName,
    session: Writer,
    metrics: AppMetrics,
    body: schemas.AliasRollback | None = None,
) -> Any:
    """Move an alias back to where its last move took it from (the body is optional).

    Rollback undoes the last move, and is itself a move: a second rollback returns to the
    version the first one left.
    """
    event = svc.rollback_alias(
        session, model_name=model, alias=alias, body=body or schemas.AliasRollback()
    )
    result = svc.alias_event_read(event, model)
    metrics.alias_moves.labels("rollback").inc()
    log.info("alias rolled back", model=model, alias=alias, to=result.to_version)
    return result


@router.get("/models/{model}/aliases/history", response_model=schemas.Page[schemas.AliasEventRead])
def alias_history(model: ModelName, session: Reader, limit: Limit, offset: Offset = 0) -> Any:
    """Audit log of the model's alias moves, newest first."""
    rows, total = svc.alias_history(session, model_name=model, limit=limit, offset=offset)
    items = [svc.alias_event_read(e, model) for e in rows]
    return page_of(items, total, limit=limit, offset=offset)
