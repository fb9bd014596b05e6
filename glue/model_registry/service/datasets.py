"""Datasets recorded for lineage: register (idempotent), read and list."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from glue.artifacts.manifest import Manifest
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, NotFound
from glue.model_registry.service.common import page


def dataset_query(*, team: str, name: str) -> Select[orm.Dataset]:
    """The query of dataset ``name`` of ``team`` (names are unique per team)."""
    return select(orm.Dataset).where(orm.Dataset.team == team, orm.Dataset.name == name)


def register_dataset(
    session: Session, *, team: str, body: schemas.DatasetCreate
) -> tuple[orm.Dataset, bool]:
    """Record a dataset of ``team``: ``(dataset, True)``; the same name with every field equal
    again is idempotent: ``(existing, False)``. ``Conflict`` naming each differing field
    otherwise (datasets are immutable: a re-registration never changes or silently ignores a
    value)."""
    existing = session.scalar(dataset_query(team=team, name=body.name))
    manifest = body.manifest.model_dump(mode="json")
    if existing is not None:
        differing = [
            name
            for name, value in {**body.model_dump(exclude={"team"}), "manifest": manifest}.items()
            if getattr(existing, name) != value
        ]
        if not differing:
            return existing, False
        raise Conflict(
            f"dataset {body.name!r} is already recorded with other {', '.join(differing)}; "
            "datasets are immutable, register a new name (e.g. with a date or version suffix)",
            field=f"body.{differing[0]}",
        )
    dataset = orm.Dataset(**{**body.model_dump(), "manifest": manifest, "team": team})
    session.add(dataset)
    session.flush()
    return dataset, True


def get_dataset(session: Session, *, team: str, name: str) -> orm.Dataset:
    """One dataset of ``team``; ``NotFound`` otherwise."""
    dataset = session.scalar(dataset_query(team=team, name=name))
    if dataset is None:
        raise NotFound(f"dataset {name!r} is not recorded in team {team!r}", field="path.dataset")
    return dataset


def list_datasets(
    session: Session, *, team: str, limit: int, offset: int
) -> tuple[list[orm.Dataset], int]:
    """The team's datasets ordered by name."""
    query = select(orm.Dataset).where(orm.Dataset.team == team).order_by(orm.Dataset.name)
    return page(session, query, limit=limit, offset=offset)


def dataset_read(dataset: orm.Dataset) -> schemas.DatasetRead:
    """API view of a dataset."""
    return schemas.DatasetRead(
        name=dataset.name,
        team=dataset.team,
        uri=dataset.uri,
        manifest=Manifest.model_validate(dataset.manifest),
        rows=dataset.rows,
        description=dataset.description,
        labels=dataset.labels,
        created_at=dataset.created_at,
    )
