"""Routes of ``/api/v1/models``: create, list, read and change models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from glue.model_registry import schemas
from glue.model_registry.api import API_PREFIX
from glue.model_registry.api.params import ModelName, Offset, Team
from glue.model_registry.deps import Limit, Reader, Writer
from glue.model_registry.service import models as svc
from glue.model_registry.service.common import page_of

router = APIRouter(prefix=API_PREFIX, tags=["models"])


@router.post("/models", status_code=201, response_model=schemas.ModelRead)
def create_model(body: schemas.ModelCreate, session: Writer) -> schemas.ModelRead:
    """Register a new model (name unique, DNS-1123 label)."""
    return svc.model_read(svc.create_model(session, body=body))


@router.get("/models", response_model=schemas.Page[schemas.ModelRead])
def list_models(session: Reader, limit: Limit, team: Team = None, offset: Offset = 0) -> Any:
    """List models ordered by name."""
    rows, total = svc.list_models(session, team=team, limit=limit, offset=offset)
    return page_of([svc.model_read(m) for m in rows], total, limit=limit, offset=offset)


@router.get("/models/{model}", response_model=schemas.ModelRead)
def get_model(model: ModelName, session: Reader) -> schemas.ModelRead:
    """One model with its aliases."""
    return svc.model_read(svc.get_model(session, name=model))


@router.patch("/models/{model}", response_model=schemas.ModelRead)
def update_model(model: ModelName, body: schemas.ModelUpdate, session: Writer) -> schemas.ModelRead:
    """Change a model's description, task, framework or labels."""
    return svc.model_read(svc.update_model(session, name=model, body=body))
