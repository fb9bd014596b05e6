"""Registry domain logic: keyword-only functions over a SQLAlchemy session.

Routers stay thin: they open a transaction (``Database.writing``/``reading``) and call one of these.
Every function raises ``NotFound``/``Conflict``/``Invalid``/``Unavailable`` with the offending
field, never a bare exception for bad input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.artifacts.errors import ArtifactError, ArtifactNotFound, StorageUnavailable
from glue.artifacts.manifest import Manifest
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.errors import Conflict, Invalid, NotFound, Unavailable
from glue.model_registry.models import utcnow
from glue.triton.config import parse_model_config, signature_mismatches
from glue.triton.layout import LayoutError, manifest_version_dir

#: Largest version number (versions are 32-bit integers in the database).
MAX_VERSION = 2_147_483_647

#: Reads one file of an artifact: (artifact_uri, relative path) -> bytes.
ArtifactReader = Callable[[str, str], bytes]


# ---------------------------------------------------------------------------------------------
# helpers


def _page(
    session: Session, query: Select[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(limit).offset(offset)).unique())
    return rows, total


def page_of(items: Sequence[Any], total: int, *, limit: int, offset: int) -> dict[str, Any]:
    """A ``schemas.Page`` body: ``next_offset`` is None when nothing follows."""
    following = offset + len(items)
    return {
        "items": list(items),
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }


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


def version_read(version: orm.ModelVersion) -> schemas.VersionRead:
    """API view of a version with lineage and aliases pointing at it."""
    return schemas.VersionRead(
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


# ---------------------------------------------------------------------------------------------
# models


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
    return _page(session, query, limit=limit, offset=offset)


# ---------------------------------------------------------------------------------------------
# versions


def check_config(*, model: str, body: schemas.VersionCreate, read_artifact: ArtifactReader) -> None:
    """Refuse a version whose config.pbtxt is missing, misnamed or differs from its signature.

    Raises ``Invalid`` (field ``body.signature`` / ``body.manifest.files`` /
    ``body.artifact_uri``) or ``Unavailable`` when the artifact store cannot be reached.
    """
    try:  # the same layout rule the serving agent applies before it downloads anything
        manifest_version_dir(body.manifest.files)
    except LayoutError as exc:
        raise Invalid(f"{exc.field}: {exc}", field="body.manifest.files") from exc
    entry = body.manifest.files["config.pbtxt"]
    try:
        raw = read_artifact(body.artifact_uri, "config.pbtxt")
    except ArtifactNotFound as exc:
        raise Invalid(
            f"no config.pbtxt at {body.artifact_uri!r}: upload the artifact before registering",
            field="body.artifact_uri",
        ) from exc
    except StorageUnavailable as exc:
        raise Unavailable(
            f"artifact storage unreachable: {exc}", field="body.artifact_uri"
        ) from exc
    except ArtifactError as exc:
        raise Invalid(str(exc), field="body.artifact_uri") from exc
    if hashlib.sha256(raw).hexdigest() != entry.sha256:
        raise Invalid(
            "config.pbtxt at the artifact URI does not match the manifest's sha256",
            field="body.manifest.files.config.pbtxt",
        )
    try:
        config = parse_model_config(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(str(exc), field="body.artifact_uri") from exc
    if config.name != model:
        raise Invalid(
            f"config.pbtxt name {config.name!r} must equal the model name {model!r}",
            field="body.artifact_uri",
        )
    try:
        problems = signature_mismatches(body.signature, config)
    except ValueError as exc:
        raise Invalid(str(exc), field="body.signature") from exc
    if problems:
        raise Invalid(
            "signature does not match config.pbtxt: " + "; ".join(problems), field="body.signature"
        )


def find_by_source(session: Session, *, model_id: int, uid: str) -> orm.ModelVersion | None:
    return session.scalar(
        select(orm.ModelVersion).where(
            orm.ModelVersion.model_id == model_id, orm.ModelVersion.source_uid == uid
        )
    )


def check_same_registration(existing: orm.ModelVersion, body: schemas.VersionCreate) -> None:
    """``Conflict`` when a retried registration (same source uid) carries another artifact.

    A retry must send the same artifact URI and manifest; anything else means the uid was
    reused for different content, which would silently drop that content.
    """
    if existing.artifact_uri != body.artifact_uri or existing.manifest != body.manifest.model_dump(
        mode="json"
    ):
        raise Conflict(
            f"source uid {body.source.uid!r} already registered version {existing.version} with "
            f"another artifact ({existing.artifact_uri}); a retry must send the same artifact, "
            "a new training run needs its own uid",
            field="body.source.uid",
        )


def register_version(
    session: Session,
    *,
    model_name: str,
    body: schemas.VersionCreate,
) -> tuple[orm.ModelVersion, bool]:
    """Register a version; returns ``(version, created)``.

    The version number comes from bumping the model's counter with ``UPDATE ... RETURNING`` in
    this transaction (row lock on PostgreSQL, database write lock on SQLite), so concurrent
    registrations get consecutive numbers with no gap or duplicate. The same ``source.uid``
    returns the existing version with ``created=False``. The config.pbtxt check
    (``check_config``) runs before this transaction, so no storage I/O holds a database lock.
    """
    model_id = session.scalar(select(orm.Model.id).where(orm.Model.name == model_name))
    if model_id is None:
        raise NotFound(f"model {model_name!r} does not exist", field="path.model")
    existing = find_by_source(session, model_id=model_id, uid=body.source.uid)
    if existing is not None:
        check_same_registration(existing, body)
        return existing, False
    dataset_id = None
    if body.dataset is not None:
        dataset_id = session.scalar(select(orm.Dataset.id).where(orm.Dataset.name == body.dataset))
        if dataset_id is None:
            raise Invalid(
                f"dataset {body.dataset!r} is not recorded; register it first", field="body.dataset"
            )
    # Everything above only reads; the counter bump takes the model's row lock (PostgreSQL) and is
    # followed by one INSERT and the commit, so the lock is held as briefly as possible.
    number = session.execute(
        update(orm.Model)
        .where(orm.Model.id == model_id)
        .values(latest_version=orm.Model.latest_version + 1)
        .returning(orm.Model.latest_version)
    ).scalar_one()
    version = orm.ModelVersion(
        model_id=model_id,
        version=number,
        created_at=utcnow(),
        artifact_uri=body.artifact_uri,
        manifest=body.manifest.model_dump(mode="json"),
        format=body.format,
        signature=body.signature.model_dump(mode="json"),
        metrics=body.metrics,
        params=body.params,
        dataset_id=dataset_id,
        source_kind=body.source.kind,
        source_namespace=body.source.namespace,
        source_name=body.source.name,
        source_uid=body.source.uid,
        created_by=body.created_by,
        description=body.description,
    )
    session.add(version)
    session.flush()
    return version, True


def new_version_read(
    *, model_name: str, version: orm.ModelVersion, body: schemas.VersionCreate
) -> schemas.VersionRead:
    """API view of a just-registered version, built without further queries (no aliases yet)."""
    return schemas.VersionRead(
        model=model_name,
        version=version.version,
        artifact_uri=body.artifact_uri,
        manifest=body.manifest,
        format=body.format,
        signature=body.signature,
        metrics=body.metrics,
        params=body.params,
        dataset=body.dataset,
        source=body.source,
        created_at=version.created_at,
        created_by=body.created_by,
        description=body.description,
        aliases=[],
    )


def get_version(session: Session, *, model_name: str, ref: str) -> orm.ModelVersion:
    """A version by number (``"3"``) or by alias (``"production"``); ``NotFound`` otherwise."""
    model = get_model(session, name=model_name)
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
    model_name: str,
    limit: int,
    offset: int,
    source_uid: str | None = None,
    dataset: str | None = None,
) -> tuple[list[orm.ModelVersion], int]:
    """A model's versions, newest first; optionally only those of one source uid or dataset."""
    model = get_model(session, name=model_name)
    query = (
        select(orm.ModelVersion)
        .where(orm.ModelVersion.model_id == model.id)
        .order_by(orm.ModelVersion.version.desc())
    )
    if source_uid is not None:
        query = query.where(orm.ModelVersion.source_uid == source_uid)
    if dataset is not None:
        query = query.join(orm.Dataset).where(orm.Dataset.name == dataset)
    return _page(session, query, limit=limit, offset=offset)


# ---------------------------------------------------------------------------------------------
# aliases


def _lock_model(session: Session, *, name: str) -> orm.Model:
    model = session.scalar(select(orm.Model).where(orm.Model.name == name).with_for_update())
    if model is None:
        raise NotFound(f"model {name!r} does not exist", field="path.model")
    return model


def set_alias(
    session: Session, *, model_name: str, alias: str, body: schemas.AliasSet
) -> orm.AliasEvent:
    """Point ``alias`` at ``body.version`` and record the move in the audit log."""
    model = _lock_model(session, name=model_name)
    target = session.scalar(
        select(orm.ModelVersion).where(
            orm.ModelVersion.model_id == model.id, orm.ModelVersion.version == body.version
        )
    )
    if target is None:
        raise NotFound(f"model {model_name!r} has no version {body.version}", field="body.version")
    return _move_alias(
        session, model=model, alias=alias, target=target, actor=body.actor, reason=body.reason
    )


def _move_alias(
    session: Session,
    *,
    model: orm.Model,
    alias: str,
    target: orm.ModelVersion,
    actor: str,
    reason: str,
) -> orm.AliasEvent:
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
    session.flush()
    session.expire(model, ["aliases"])
    return event


def rollback_alias(
    session: Session, *, model_name: str, alias: str, body: schemas.AliasRollback
) -> orm.AliasEvent:
    """Move ``alias`` back to where its last move took it from (one call; audited).

    ``Conflict`` if the alias has never moved from a previous version.
    """
    model = _lock_model(session, name=model_name)
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
    return _move_alias(
        session, model=model, alias=alias, target=target, actor=body.actor, reason=reason
    )


def alias_history(
    session: Session, *, model_name: str, limit: int, offset: int
) -> tuple[list[orm.AliasEvent], int]:
    """Audit log of a model's alias moves, newest first."""
    model = get_model(session, name=model_name)
    query = (
        select(orm.AliasEvent)
        .where(orm.AliasEvent.model_id == model.id)
        .order_by(orm.AliasEvent.id.desc())
    )
    return _page(session, query, limit=limit, offset=offset)


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


# ---------------------------------------------------------------------------------------------
# datasets


def register_dataset(session: Session, *, body: schemas.DatasetCreate) -> tuple[orm.Dataset, bool]:
    """Record a dataset; the same name with the same manifest is idempotent, else ``Conflict``."""
    existing = session.scalar(select(orm.Dataset).where(orm.Dataset.name == body.name))
    manifest = body.manifest.model_dump(mode="json")
    if existing is not None:
        if existing.manifest == manifest and existing.uri == body.uri:
            return existing, False
        raise Conflict(
            f"dataset {body.name!r} is already recorded with other content; datasets are "
            "immutable, register a new name (e.g. with a date or version suffix)",
            field="body.name",
        )
    dataset = orm.Dataset(**{**body.model_dump(), "manifest": manifest})
    session.add(dataset)
    session.flush()
    return dataset, True


def get_dataset(session: Session, *, name: str) -> orm.Dataset:
    """One dataset; ``NotFound`` otherwise."""
    dataset = session.scalar(select(orm.Dataset).where(orm.Dataset.name == name))
    if dataset is None:
        raise NotFound(f"dataset {name!r} is not recorded", field="path.dataset")
    return dataset


def list_datasets(
    session: Session, *, team: str | None, limit: int, offset: int
) -> tuple[list[orm.Dataset], int]:
    """Datasets ordered by name."""
    query = select(orm.Dataset).order_by(orm.Dataset.name)
    if team:
        query = query.where(orm.Dataset.team == team)
    return _page(session, query, limit=limit, offset=offset)


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


# ---------------------------------------------------------------------------------------------
# inference services


def get_service(
    session: Session, *, name: str, field: str = "path.service"
) -> orm.InferenceService:
    """One inference service; ``NotFound`` otherwise."""
    service = session.scalar(select(orm.InferenceService).where(orm.InferenceService.name == name))
    if service is None:
        raise NotFound(f"inference service {name!r} does not exist", field=field)
    return service


def _build_assignments(
    session: Session, *, assignments: list[schemas.Assignment], field: str
) -> list[orm.ServiceAssignment]:
    built: list[orm.ServiceAssignment] = []
    seen: set[str] = set()
    for index, item in enumerate(assignments):
        where = f"{field}[{index}]"
        if item.model in seen:
            raise Invalid(f"model {item.model!r} is assigned twice", field=f"{where}.model")
        seen.add(item.model)
        model = get_model(session, name=item.model, field=f"{where}.model")
        for key in ("version", "canary_version"):
            number = getattr(item, key)
            if number is not None and number > model.latest_version:
                raise Invalid(
                    f"model {item.model!r} has no version {number} (latest is "
                    f"{model.latest_version})",
                    field=f"{where}.{key}",
                )
        built.append(
            orm.ServiceAssignment(
                model_id=model.id,
                version=item.version,
                alias=item.alias,
                canary_version=item.canary_version,
                canary_share=item.canary_share,
            )
        )
    return built


def create_service(
    session: Session, *, body: schemas.ServiceCreate, exist_ok: bool
) -> tuple[orm.InferenceService, bool]:
    """Create a service with its initial assignments; returns ``(service, created)``.

    With ``exist_ok`` an existing service is returned untouched: infrastructure code creates
    the record when missing and never overwrites a promotion. Without it: ``Conflict``.
    """
    existing = session.scalar(
        select(orm.InferenceService).where(orm.InferenceService.name == body.name)
    )
    if existing is not None:
        if exist_ok and existing.team == body.team:
            return existing, False
        if exist_ok:
            raise Conflict(
                f"inference service {body.name!r} exists and belongs to team {existing.team!r}",
                field="body.team",
            )
        raise Conflict(f"inference service {body.name!r} already exists", field="body.name")
    service = orm.InferenceService(name=body.name, team=body.team, description=body.description)
    service.assignments = _build_assignments(
        session, assignments=body.assignments, field="body.assignments"
    )
    session.add(service)
    session.flush()
    return service, True


def set_assignments(
    session: Session, *, name: str, body: schemas.AssignmentsSet
) -> orm.InferenceService:
    """Replace a service's desired assignments."""
    service = get_service(session, name=name)
    new = _build_assignments(session, assignments=body.assignments, field="body.assignments")
    service.assignments.clear()
    session.flush()
    service.assignments.extend(new)
    session.flush()
    return service


def list_services(
    session: Session, *, team: str | None, limit: int, offset: int
) -> tuple[list[orm.InferenceService], int]:
    """Services ordered by name."""
    query = select(orm.InferenceService).order_by(orm.InferenceService.name)
    if team:
        query = query.where(orm.InferenceService.team == team)
    return _page(session, query, limit=limit, offset=offset)


def _resolve(assignment: orm.ServiceAssignment) -> int | None:
    if assignment.version is not None:
        return assignment.version
    for alias in assignment.model.aliases:
        if alias.name == assignment.alias:
            return alias.version.version
    return None


def in_canary(*, service: str, pod: str, share: float) -> bool:
    """Whether ``pod`` serves the canary: a stable hash of service/pod below ``share`` (0..1)."""
    digest = hashlib.sha256(f"{service}/{pod}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def desired_state(session: Session, *, name: str, pod: str) -> schemas.DesiredState:
    """What ``pod`` must serve: one version per assigned model, aliases resolved."""
    service = get_service(session, name=name)
    wanted: list[schemas.DesiredVersion] = []
    unresolved: list[str] = []
    for assignment in service.assignments:
        number = _resolve(assignment)
        role = "primary"
        if (
            assignment.canary_version is not None
            and assignment.canary_share is not None
            and in_canary(service=name, pod=pod, share=assignment.canary_share)
        ):
            number, role = assignment.canary_version, "canary"
        if number is None:
            unresolved.append(assignment.model.name)
            continue
        version = session.scalar(
            select(orm.ModelVersion).where(
                orm.ModelVersion.model_id == assignment.model_id,
                orm.ModelVersion.version == number,
            )
        )
        if version is None:
            unresolved.append(assignment.model.name)
            continue
        wanted.append(
            schemas.DesiredVersion(
                model=assignment.model.name,
                version=number,
                role=role,
                artifact_uri=version.artifact_uri,
                manifest=Manifest.model_validate(version.manifest),
            )
        )
    return schemas.DesiredState(service=name, pod=pod, models=wanted, unresolved=unresolved)


def report_pod_status(
    session: Session, *, name: str, pod: str, body: schemas.PodStatusReport
) -> orm.InferenceService:
    """Replace everything recorded for ``pod`` with the report (one transaction)."""
    service = get_service(session, name=name)
    seen: set[tuple[str, int]] = set()
    for index, item in enumerate(body.models):
        key = (item.model, item.version)
        if key in seen:
            raise Invalid(
                f"model {item.model!r} version {item.version} is reported twice",
                field=f"body.models[{index}]",
            )
        seen.add(key)
    rows = session.scalars(
        select(orm.ObservedModel).where(
            orm.ObservedModel.service_id == service.id, orm.ObservedModel.pod == pod
        )
    )
    for row in rows:
        session.delete(row)
    session.flush()
    now = utcnow()
    for item in body.models:
        session.add(
            orm.ObservedModel(
                service_id=service.id,
                pod=pod,
                model=item.model,
                version=item.version,
                state=item.state,
                error=item.error,
                reported_at=now,
            )
        )
    session.flush()
    return service


def forget_pod(session: Session, *, name: str, pod: str) -> int:
    """Remove a pod's observed rows (pod deleted); returns how many were removed."""
    service = get_service(session, name=name)
    rows = list(
        session.scalars(
            select(orm.ObservedModel).where(
                orm.ObservedModel.service_id == service.id, orm.ObservedModel.pod == pod
            )
        )
    )
    for row in rows:
        session.delete(row)
    return len(rows)


def stale_before(ttl_seconds: float) -> datetime | None:
    """Reports older than this are stale (None: ``ttl_seconds`` 0, nothing is stale)."""
    return utcnow() - timedelta(seconds=ttl_seconds) if ttl_seconds > 0 else None


def service_read(
    session: Session, service: orm.InferenceService, *, ttl_seconds: float = 0
) -> schemas.ServiceRead:
    """API view: assignments (aliases resolved) and every pod's observed state.

    Reports older than ``ttl_seconds`` (0: never) carry ``stale=True``.
    """
    cutoff = stale_before(ttl_seconds)
    observed = session.scalars(
        select(orm.ObservedModel)
        .where(orm.ObservedModel.service_id == service.id)
        .order_by(orm.ObservedModel.pod, orm.ObservedModel.model, orm.ObservedModel.version)
    )
    return schemas.ServiceRead(
        name=service.name,
        team=service.team,
        description=service.description,
        created_at=service.created_at,
        assignments=[
            schemas.ResolvedAssignment(
                model=a.model.name,
                version=a.version,
                alias=a.alias,
                canary_version=a.canary_version,
                canary_share=a.canary_share,
                resolved_version=_resolve(a),
            )
            for a in service.assignments
        ],
        observed=[
            schemas.ObservedModelRead(
                model=o.model,
                version=o.version,
                state=o.state,
                error=o.error,
                pod=o.pod,
                reported_at=o.reported_at,
                stale=cutoff is not None and o.reported_at < cutoff,
            )
            for o in observed
        ],
    )


def deployments(
    session: Session,
    *,
    model_name: str,
    version: int | None,
    state: str | None,
    limit: int,
    offset: int,
    ttl_seconds: float = 0,
) -> tuple[list[orm.ObservedModel], int]:
    """Observed pods serving ``model_name`` (optionally one version / one state).

    Reports older than ``ttl_seconds`` (0: keep all) are left out: those pods stopped reporting.
    """
    get_model(session, name=model_name)
    query = (
        select(orm.ObservedModel)
        .join(orm.InferenceService)
        .where(orm.ObservedModel.model == model_name)
        .order_by(orm.InferenceService.name, orm.ObservedModel.pod, orm.ObservedModel.version)
    )
    if version is not None:
        query = query.where(orm.ObservedModel.version == version)
    if state is not None:
        query = query.where(orm.ObservedModel.state == state)
    cutoff = stale_before(ttl_seconds)
    if cutoff is not None:
        query = query.where(orm.ObservedModel.reported_at >= cutoff)
    return _page(session, query, limit=limit, offset=offset)


def deployment_read(row: orm.ObservedModel) -> schemas.Deployment:
    """API view of one observed (service, pod, model, version)."""
    return schemas.Deployment(
        service=row.service.name,
        pod=row.pod,
        model=row.model,
        version=row.version,
        state=row.state,
        error=row.error,
        reported_at=row.reported_at,
    )
