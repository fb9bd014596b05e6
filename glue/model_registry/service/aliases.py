"""Aliases: move one to a version (promotion), roll it back, and the audit log of moves.

Every move keeps the canary rule: in the move's own transaction, a canary of a service assignment
following the alias that is not newer than the alias's new version is cleared (recorded on the
assignment with the reason, and returned so the caller audits it), so it is never served.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, NotFound
from glue.model_registry.models import utcnow
from glue.model_registry.service.common import page
from glue.model_registry.service.inference import clear_stale_canaries
from glue.model_registry.service.models import get_model, model_query


@dataclass
class Move:
    """An alias move: its audit entry and the canaries it cleared (``(service, version)``)."""

    event: orm.AliasEvent
    cleared: list[tuple[orm.InferenceService, int]] = field(default_factory=list)


def _lock_model(session: Session, *, team: str, name: str) -> orm.Model:
    model = session.scalar(model_query(team=team, name=name).with_for_update())
    if model is None:
        raise NotFound(f"model {name!r} does not exist in team {team!r}", field="path.model")
    return model


def set_alias(
    session: Session, *, team: str, model_name: str, alias: str, body: schemas.AliasSet, actor: str
) -> Move:
    """Point ``alias`` at ``body.version`` and record the move, by ``actor`` (the authenticated
    principal's name), in the model's alias history; clears canaries it makes stale."""
    model = _lock_model(session, team=team, name=model_name)
    target = session.scalar(
        select(orm.ModelVersion).where(
            orm.ModelVersion.model_id == model.id, orm.ModelVersion.version == body.version
        )
    )
    if target is None:
        raise NotFound(f"model {model_name!r} has no version {body.version}", field="body.version")
    return _move_alias(
        session, model=model, alias=alias, target=target, actor=actor, reason=body.reason
    )


def _move_alias(
    session: Session,
    *,
    model: orm.Model,
    alias: str,
    target: orm.ModelVersion,
    actor: str,
    reason: str,
) -> Move:
    current = session.scalar(
        select(orm.Alias).where(orm.Alias.model_id == model.id, orm.Alias.name == alias)
    )
    from_version = current.version.version if current else None
    if current is None:
        session.add(orm.Alias(model_id=model.id, name=alias, version_id=target.id))
    else:
        current.version_id = target.id
        current.updated_at = utcnow()
    event = orm.AliasEvent(
        model_id=model.id,
        alias=alias,
        from_version=from_version,
        to_version=target.version,
        actor=actor,
        reason=reason,
    )
    session.add(event)
    session.flush()  # the database raises the model's generation (migration 0006)
    session.expire(model, ["aliases"])
    why = (
        f"alias {alias!r} moved to version {target.version}: a canary must be newer than the "
        "primary"
    )
    cleared = clear_stale_canaries(
        session, model=model, alias=alias, version=target.version, reason=why
    )
    return Move(event=event, cleared=cleared)


def rollback_alias(
    session: Session,
    *,
    team: str,
    model_name: str,
    alias: str,
    body: schemas.AliasRollback,
    actor: str,
) -> Move:
    """Move ``alias`` back to where its last move took it from (one call; audited).

    ``Conflict`` if the alias has never moved from a previous version.
    """
    model = _lock_model(session, team=team, name=model_name)
    last = session.scalar(
        select(orm.AliasEvent)
        .where(orm.AliasEvent.model_id == model.id, orm.AliasEvent.alias == alias)
        .order_by(orm.AliasEvent.id.desc())
        .limit(1)
    )
    if last is None:
        raise NotFound(f"model {model_name!r} has no alias {alias!r}", field="path.alias")
    if last.from_version is None:
        raise Conflict(
            f"alias {alias!r} has no previous version to roll back to (it was created at "
            f"version {last.to_version})",
            field="path.alias",
        )
    target = session.scalar(
        select(orm.ModelVersion).where(
            orm.ModelVersion.model_id == model.id, orm.ModelVersion.version == last.from_version
        )
    )
    if target is None:  # versions are never deleted; kept as a guard
        raise Conflict(f"version {last.from_version} no longer exists", field="path.alias")
    reason = body.reason or f"rollback of the move {last.from_version} -> {last.to_version}"
    return _move_alias(session, model=model, alias=alias, target=target, actor=actor, reason=reason)


def alias_history(
    session: Session, *, team: str, model_name: str, limit: int, offset: int
) -> tuple[list[orm.AliasEvent], int]:
    """Audit log of a model's alias moves, newest first."""
    model = get_model(session, team=team, name=model_name)
    query = (
        select(orm.AliasEvent)
        .where(orm.AliasEvent.model_id == model.id)
        .order_by(orm.AliasEvent.id.desc())
    )
    return page(session, query, limit=limit, offset=offset)


def alias_event_read(event: orm.AliasEvent, model_name: str) -> schemas.AliasEventRead:
    """API view of an audit entry."""
    return schemas.AliasEventRead(
        id=event.id,
        model=model_name,
        alias=event.alias,
        from_version=event.from_version,
        to_version=event.to_version,
        actor=event.actor,
        reason=event.reason,
        at=event.at,
    )
