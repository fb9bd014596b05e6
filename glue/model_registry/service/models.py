"""Registry models: create, read, change and list them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, NotFound
from glue.model_registry.service.common import page


def get_model(session: Session, *, name: str, field: str = "path.model") -> orm.Model:
    """The model called ``name``; raises ``NotFound`` naming ``field``."""
    model = session.scalar(select(orm.Model).where(orm.Model.name == name))
    if model is None:
        raise NotFound(f"model {name!r} does not exist", field=field)
    return model


def model_read(model: orm.Model) -> schemas.ModelRead:
    """API view of a model with its aliases."""
    return schemas.ModelRead(
        name=model.name,
        team=model.team,
        description=model.description,
        task=model.task,
        framework=model.framework,
        labels=model.labels,
        latest_version=model.latest_version,
        aliases={a.name: a.version.version for a in model.aliases},
        created_at=model.created_at,
    )


def create_model(session: Session, *, body: schemas.ModelCreate) -> orm.Model:
    """Create a model; ``Conflict`` on ``body.name`` if the name is taken."""
    if session.scalar(select(orm.Model.id).where(orm.Model.name == body.name)) is not None:
        raise Conflict(f"model {body.name!r} already exists", field="body.name")
    model = orm.Model(**body.model_dump())
    session.add(model)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"model {body.name!r} already exists", field="body.name") from exc
    return model


def update_model(session: Session, *, name: str, body: schemas.ModelUpdate) -> orm.Model:
    """Change a model's descriptive fields (those set in ``body``)."""
    model = get_model(session, name=name)
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(model, key, value)
    return model


def list_models(
    session: Session, *, team: str | None, limit: int, offset: int
) -> tuple[list[orm.Model], int]:
    """Models ordered by name, optionally of one team."""
    query = select(orm.Model).order_by(orm.Model.name)
    if team:
        query = query.where(orm.Model.team == team)
    return page(session, query, limit=limit, offset=offset)
