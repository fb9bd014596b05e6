"""Routes of ``/api/v1/teams/{team}/models``: create, list, read and change a team's models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from glue.model_registry import schemas
from glue.model_registry.api import TEAM_PREFIX
from glue.model_registry.api.params import ModelName, Offset
from glue.model_registry.deps import Caller, Limit, Reader, ReadTeam, Writer, WriteTeam
from glue.model_registry.service import audit
from glue.model_registry.service import models as svc
from glue.model_registry.service.common import check_body_team, page_of

router = APIRouter(prefix=TEAM_PREFIX, tags=["models"])


@router.post("/models", status_code=201, response_model=schemas.ModelRead)
def create_model(
    team: WriteTeam, body: schemas.ModelCreate, session: Writer, who: Caller
) -> schemas.ModelRead:
    """Register a new model of the team (name unique in the team, DNS-1123 label)."""
    check_body_team(body.team, team)
    model = svc.create_model(session, team=team, body=body)
    audit.record(session, who, team=team, action="model.create", resource=f"models/{model.name}")
    return svc.model_read(model)


@router.get("/models", response_model=schemas.Page[schemas.ModelRead])
def list_models(team: ReadTeam, session: Reader, limit: Limit, offset: Offset = 0) -> Any:
    """The team's models ordered by name."""
    rows, total = svc.list_models(session, team=team, limit=limit, offset=offset)
    return page_of([svc.model_read(m) for m in rows], total, limit=limit, offset=offset)


@router.get("/models/{model}", response_model=schemas.ModelRead)
def get_model(team: ReadTeam, model: ModelName, session: Reader) -> schemas.ModelRead:
    """One model with its aliases."""
    return svc.model_read(svc.get_model(session, team=team, name=model))


@router.patch("/models/{model}", response_model=schemas.ModelRead)
def update_model(
    team: WriteTeam, model: ModelName, body: schemas.ModelUpdate, session: Writer, who: Caller
) -> schemas.ModelRead:
    """Change a model's description, task, framework or labels."""
    found = svc.update_model(session, team=team, name=model, body=body)
    changed = sorted(body.model_dump(exclude_none=True))
    audit.record(
        session,
        who,
        team=team,
        action="model.update",
        resource=f"models/{model}",
        detail={"fields": changed},
    )
    return svc.model_read(found)
