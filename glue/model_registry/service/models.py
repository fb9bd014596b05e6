"""Registry models: create, read, change and list them."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, NotFound
from glue.model_registry.service.common import page


def model_query(*, team: str, name: str) -> Select[orm.Model]:
    """The query of model ``name`` of ``team`` (names are unique per team)."""
    return select(orm.Model).where(orm.Model.team == team, orm.Model.name == name)


def get_model(session: Session, *, team: str, name: str, field: str = "path.model") -> orm.Model:
    """The model called ``name`` in ``team``; raises ``NotFound`` naming ``field``."""
    model = session.scalar(model_query(team=team, name=name))
    if model is None:
        raise NotFound(f"model {name!r} does not exist in team {team!r}", field=field)
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


def create_model(session: Session, *, team: str, body: schemas.ModelCreate) -> orm.Model:
    """Create a model of ``team``; ``Conflict`` on ``body.name`` if the team has the name."""
    if session.scalar(model_query(team=team, name=body.name)) is not None:
        raise Conflict(f"model {body.name!r} already exists in team {team!r}", field="body.name")
    model = orm.Model(**{**body.model_dump(), "team": team})
    session.add(model)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"model {body.name!r} already exists in team {team!r}", field="body.name"
        ) from exc
    return model


def update_model(session: Session, *, team: str, name: str, body: schemas.ModelUpdate) -> orm.Model:
    """Change a model's descriptive fields (those set in ``body``)."""
    model = get_model(session, team=team, name=name)
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(model, key, value)
    return model


def list_models(
    session: Session, *, team: str, limit: int, offset: int
) -> tuple[list[orm.Model], int]:
    """The team's models ordered by name."""
    query = select(orm.Model).where(orm.Model.team == team).order_by(orm.Model.name)
    return page(session, query, limit=limit, offset=offset)
