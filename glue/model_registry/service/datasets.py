"""Datasets recorded for lineage: register (idempotent), sync from a Fluid Dataset (upsert),
read and list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.artifacts.manifest import Manifest
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, Invalid, NotFound
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
    if existing is not None and existing.source_uid is not None:
        raise Conflict(
            f"dataset {body.name!r} mirrors the Fluid Dataset {_source_text(existing)}; "
            "register the files under another name",
            field="body.name",
        )
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


def _source_text(dataset: orm.Dataset) -> str:
    return f"{dataset.source_namespace}/{dataset.source_name} (uid {dataset.source_uid})"


def _synced_values(body: schemas.DatasetSync) -> dict[str, Any]:
    """The columns a ``DatasetSync`` sets, as stored (``source`` split into columns)."""
    dumped = body.model_dump(mode="json")
    return {
        "uri": body.mounts[0].mount_point,
        "mounts": dumped["mounts"],
        "phase": body.phase,
        "size_bytes": body.size_bytes,
        "file_count": body.file_count,
        "cache": dumped["cache"],
        "description": body.description,
        "labels": dumped["labels"],
        "source_kind": body.source.kind,
        "source_api_version": body.source.api_version,
        "source_namespace": body.source.namespace,
        "source_name": body.source.name,
        "source_uid": body.source.uid,
    }


def sync_dataset(
    session: Session, *, team: str, name: str, body: schemas.DatasetSync
) -> tuple[orm.Dataset, str, dict[str, Any]]:
    """Create or update the record ``name`` of ``team`` mirroring the Fluid Dataset
    ``body.source``: ``(dataset, outcome, changes)`` with outcome ``created``, ``updated`` or
    ``unchanged`` and ``changes`` mapping each changed field to ``[old, new]``.

    ``Invalid`` (``body.source.name``) when the source is not named like the path's dataset;
    ``Conflict`` when the name is a file dataset's (``path.dataset``) or mirrors a Dataset of
    another namespace (``body.source.namespace``), or when a concurrent sync created it first
    (retry: the retry updates). ``body.deleted`` sets ``deleted_at`` once; a later sync without
    it (the Dataset exists again) clears it.
    """
    if body.source.name != name:
        raise Invalid(
            f"body.source.name is {body.source.name!r} but the path's dataset is {name!r}; "
            "a synced dataset is named after its Fluid Dataset",
            field="body.source.name",
        )
    values = _synced_values(body)
    existing = session.scalar(dataset_query(team=team, name=name))
    if existing is None:
        dataset = orm.Dataset(team=team, name=name, manifest=None, rows=None, **values)
        dataset.synced_at = dataset.created_at = orm.utcnow()
        dataset.deleted_at = dataset.synced_at if body.deleted else None
        session.add(dataset)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"dataset {name!r} was recorded by a concurrent request; send the sync again",
                field="path.dataset",
            ) from exc
        return dataset, "created", {}
    if existing.source_uid is None:
        raise Conflict(
            f"dataset {name!r} of team {team!r} is a file dataset (registered with a manifest); "
            "a Fluid Dataset of that name cannot be synced over it: rename one of them",
            field="path.dataset",
        )
    if existing.source_namespace != body.source.namespace:
        raise Conflict(
            f"dataset {name!r} of team {team!r} mirrors the Fluid Dataset "
            f"{_source_text(existing)}, not one in namespace {body.source.namespace!r}; "
            "dataset names are unique per team: rename one of the Datasets",
            field="body.source.namespace",
        )
    changes = {
        key: [getattr(existing, key), value]
        for key, value in values.items()
        if getattr(existing, key) != value
    }
    if body.deleted and existing.deleted_at is None:
        existing.deleted_at = orm.utcnow()
        changes["deleted"] = [False, True]
    elif not body.deleted and existing.deleted_at is not None:
        existing.deleted_at = None
        changes["deleted"] = [True, False]
    if not changes:
        return existing, "unchanged", {}
    for key, (_, value) in changes.items():
        if key != "deleted":
            setattr(existing, key, value)
    existing.synced_at = orm.utcnow()
    session.flush()
    return existing, "updated", changes


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
    source = None
    if dataset.source_uid is not None:
        source = schemas.DatasetSource.model_validate(
            {
                "kind": dataset.source_kind,
                "api_version": dataset.source_api_version,
                "namespace": dataset.source_namespace,
                "name": dataset.source_name,
                "uid": dataset.source_uid,
            }
        )
    return schemas.DatasetRead(
        name=dataset.name,
        team=dataset.team,
        uri=dataset.uri,
        manifest=None if dataset.manifest is None else Manifest.model_validate(dataset.manifest),
        rows=dataset.rows,
        description=dataset.description,
        labels=dataset.labels,
        created_at=dataset.created_at,
        source=source,
        mounts=[schemas.DatasetMount.model_validate(m) for m in dataset.mounts or []],
        phase=dataset.phase,
        size_bytes=dataset.size_bytes,
        file_count=dataset.file_count,
        cache=None if dataset.cache is None else schemas.DatasetCache.model_validate(dataset.cache),
        synced_at=dataset.synced_at,
        deleted_at=dataset.deleted_at,
    )
