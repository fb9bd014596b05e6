"""Model versions: read one by number or alias, list them, and their API views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from glue.artifacts.manifest import Manifest
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import NotFound
from glue.model_registry.service.common import page
from glue.model_registry.service.models import get_model

#: Largest version number (versions are 32-bit integers in the database).
MAX_VERSION = 2_147_483_647


def version_read(version: orm.ModelVersion) -> schemas.VersionRead:
    """API view of a version with lineage and aliases pointing at it."""
    return schemas.VersionRead(
        team=version.model.team,
        model=version.model.name,
        version=version.version,
        artifact_uri=version.artifact_uri,
        manifest=Manifest.model_validate(version.manifest),
        format=version.format,
        signature=schemas.Signature.model_validate(version.signature),
        metrics=version.metrics,
        params=version.params,
        dataset=version.dataset.name if version.dataset else None,
        source=schemas.SourceRef(
            kind=version.source_kind,
            namespace=version.source_namespace,
            name=version.source_name,
            uid=version.source_uid,
        ),
        created_at=version.created_at,
        created_by=version.created_by,
        description=version.description,
        aliases=sorted(a.name for a in version.model.aliases if a.version_id == version.id),
    )


def new_version_read(
    *,
    team: str,
    model_name: str,
    number: int,
    created_at: datetime,
    created_by: str,
    body: schemas.VersionCreate,
) -> schemas.VersionRead:
    """API view of version ``number`` just registered from ``body`` by ``created_by``, built
    without further queries (a new version has no aliases yet)."""
    return schemas.VersionRead(
        team=team,
        model=model_name,
        version=number,
        artifact_uri=body.artifact_uri,
        manifest=body.manifest,
        format=body.format,
        signature=body.signature,
        metrics=body.metrics,
        params=body.params,
        dataset=body.dataset,
        source=body.source,
        created_at=created_at,
        created_by=created_by,
        description=body.description,
        aliases=[],
    )


def get_version(session: Session, *, team: str, model_name: str, ref: str) -> orm.ModelVersion:
    """A version by number (``"3"``), the newest (``"latest"``) or by alias (``"production"``);
    ``NotFound`` otherwise (also for ``"latest"`` of a model without versions)."""
    model = get_model(session, team=team, name=model_name)
    if ref == "latest":
        newest = session.scalar(
            select(orm.ModelVersion)
            .where(orm.ModelVersion.model_id == model.id)
            .order_by(orm.ModelVersion.version.desc())
            .limit(1)
        )
        if newest is None:
            raise NotFound(f"model {model_name!r} has no versions yet", field="path.version")
        return newest
    if ref.isdigit():
        if int(ref) > MAX_VERSION:
            raise NotFound(f"model {model_name!r} has no version {ref}", field="path.version")
        version = session.scalar(
            select(orm.ModelVersion).where(
                orm.ModelVersion.model_id == model.id, orm.ModelVersion.version == int(ref)
            )
        )
        if version is None:
            raise NotFound(f"model {model_name!r} has no version {ref}", field="path.version")
        return version
    for alias in model.aliases:
        if alias.name == ref:
            return alias.version
    raise NotFound(
        f"model {model_name!r} has no version or alias {ref!r} (aliases: "
        f"{', '.join(sorted(a.name for a in model.aliases)) or 'none'})",
        field="path.version",
    )


def list_versions(
    session: Session,
    *,
    team: str,
    model_name: str,
    limit: int,
    offset: int,
    source_uid: str | None = None,
    dataset: str | None = None,
) -> tuple[list[orm.ModelVersion], int]:
    """A model's versions, newest first; optionally only those of one source uid or dataset."""
    model = get_model(session, team=team, name=model_name)
    query = (
        select(orm.ModelVersion)
        .where(orm.ModelVersion.model_id == model.id)
        .order_by(orm.ModelVersion.version.desc())
    )
    if source_uid is not None:
        query = query.where(orm.ModelVersion.source_uid == source_uid)
    if dataset is not None:
        query = query.join(orm.Dataset).where(orm.Dataset.team == team, orm.Dataset.name == dataset)
    return page(session, query, limit=limit, offset=offset)
