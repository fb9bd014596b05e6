"""Version registration: artifact and config checks, idempotency by source uid, atomic numbering.

``register_version`` is the whole use case; the other functions are its steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.artifacts.errors import ArtifactError, ArtifactNotFound
from glue.artifacts.store import ArtifactStore
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.auth.principal import Principal
from glue.model_registry.db import Database
from glue.model_registry.errors import Conflict, Invalid, NotFound, Unavailable
from glue.model_registry.models import utcnow
from glue.model_registry.service import audit
from glue.model_registry.service.common import artifact_problem, check_artifact_uri
from glue.model_registry.service.datasets import dataset_query
from glue.model_registry.service.models import get_model, model_query
from glue.model_registry.service.versions import new_version_read, version_read
from glue.triton.config import parse_model_config, signature_mismatches
from glue.triton.layout import LayoutError, manifest_version_dir

log = structlog.get_logger("kubeai.registry")

#: How a registration ended: a new version, the existing one of the same source, or refused.
Outcome = Literal["created", "existing", "refused"]

#: Largest config.pbtxt read at registration (bytes).
MAX_CONFIG_BYTES = 1 << 20

#: Reads one file of an artifact: (artifact_uri, relative path) -> bytes.
ArtifactReader = Callable[[str, str], bytes]


def check_config(*, model: str, body: schemas.VersionCreate, read_artifact: ArtifactReader) -> None:
    """Refuse a version whose config.pbtxt is missing, misnamed or differs from its signature.

    Raises ``Invalid`` (field ``body.signature`` / ``body.manifest.files`` /
    ``body.artifact_uri``; ``StorageNotConfigured`` when this deployment cannot read the
    artifact's storage) or ``Unavailable`` when the artifact store cannot be reached.
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
    except ArtifactError as exc:
        raise artifact_problem(exc, field="body.artifact_uri") from exc
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
    """The version of model ``model_id`` registered from source ``uid``, or None."""
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


def _write_version(
    session: Session,
    *,
    team: str,
    model_name: str,
    body: schemas.VersionCreate,
    principal: Principal,
) -> tuple[orm.ModelVersion, bool]:
    """Insert the version in the write transaction of ``session``; returns ``(version, created)``.

    The version number comes from bumping the model's counter with ``UPDATE ... RETURNING`` in
    this transaction (row lock on PostgreSQL, database write lock on SQLite), so concurrent
    registrations get consecutive numbers with no gap or duplicate. The same ``source.uid``
    returns the existing version with ``created=False``. The config.pbtxt check
    (``check_config``) runs before this transaction, so no storage I/O holds a database lock.
    A new version is recorded in the audit log, by ``principal``, in the same transaction.
    """
    model_id = session.scalar(
        model_query(team=team, name=model_name).with_only_columns(orm.Model.id)
    )
    if model_id is None:
        raise NotFound(f"model {model_name!r} does not exist in team {team!r}", field="path.model")
    existing = find_by_source(session, model_id=model_id, uid=body.source.uid)
    if existing is not None:
        check_same_registration(existing, body)
        return existing, False
    dataset_id = None
    if body.dataset is not None:
        dataset_id = session.scalar(
            dataset_query(team=team, name=body.dataset).with_only_columns(orm.Dataset.id)
        )
        if dataset_id is None:
            raise Invalid(
                f"dataset {body.dataset!r} is not recorded in team {team!r}; register it first",
                field="body.dataset",
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
        created_by=principal.name,
        description=body.description,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        principal,
        team=team,
        action="version.register",
        resource=f"models/{model_name}/versions/{number}",
        detail={"artifact_uri": body.artifact_uri, "source_uid": body.source.uid},
    )
    return version, True


def _ignore(_outcome: Outcome) -> None:
    return None


def register_version(
    *,
    db: Database,
    store: ArtifactStore,
    team: str,
    model_name: str,
    body: schemas.VersionCreate,
    principal: Principal,
    verify_config: bool,
    on_outcome: Callable[[Outcome], None] = _ignore,
) -> tuple[schemas.VersionRead, bool]:
    """Register a version of ``team``'s ``model_name`` by ``principal``; returns
    ``(version, created)``.

    In order: check ``body.artifact_uri``; return the version already registered from the same
    ``source.uid`` (``created=False``) if any; with ``verify_config``, check the artifact's
    config.pbtxt against the signature (``check_config``, storage I/O outside any transaction);
    then number and insert the version in one short write transaction. When a concurrent
    registration of the same source uid wins the race (``IntegrityError``), its version is read
    back and returned with ``created=False``. ``on_outcome`` is called once with how it ended
    (``refused`` only for a bad artifact URI or config).

    Raises ``Invalid`` (bad URI, config, layout or unknown dataset), ``NotFound`` (no such
    model), ``Conflict`` (source uid reused for another artifact) or ``Unavailable`` (artifact
    storage unreachable).
    """
    try:
        uri = check_artifact_uri(store=store, uri=body.artifact_uri, field="body.artifact_uri")
        body = body.model_copy(update={"artifact_uri": uri})
    except Invalid:
        on_outcome("refused")
        raise
    with db.reading() as session:
        found = get_model(session, team=team, name=model_name)
        existing = find_by_source(session, model_id=found.id, uid=body.source.uid)
        if existing is not None:
            check_same_registration(existing, body)
            on_outcome("existing")
            return version_read(existing), False
    if verify_config:
        try:
            check_config(
                model=model_name,
                body=body,
                read_artifact=lambda uri, rel: store.read_bytes(
                    uri.rstrip("/") + "/" + rel, max_bytes=MAX_CONFIG_BYTES
                ),
            )
        except (Invalid, Unavailable):
            on_outcome("refused")
            raise
    try:
        with db.writing() as session:
            version, created = _write_version(
                session, team=team, model_name=model_name, body=body, principal=principal
            )
            result = (
                new_version_read(team=team, model_name=model_name, version=version, body=body)
                if created
                else version_read(version)
            )
    except IntegrityError:
        # A concurrent registration of the same source uid won the race: return it.
        with db.reading() as session:
            found = get_model(session, team=team, name=model_name)
            again = find_by_source(session, model_id=found.id, uid=body.source.uid)
            if again is None:
                raise
            check_same_registration(again, body)
            created, result = False, version_read(again)
    on_outcome("created" if created else "existing")
    log.info("version registered", model=model_name, version=result.version, created=created)
    return result, created
