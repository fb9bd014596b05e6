"""Version registration: artifact checks, idempotency by source uid, atomic numbering.

``register_version`` is the whole use case; the other functions are its steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import (
    and_,
    null,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glue.artifacts.errors import (
    ArtifactError,
    ArtifactNotFound,
    ChecksumMismatch,
)
from glue.artifacts.manifest import check_digest, compare_listing, digest_bytes
from glue.artifacts.store import ArtifactStore
from glue.model_registry import models as orm
from glue.model_registry import schemas
from glue.model_registry.auth.principal import Principal
from glue.model_registry.db import Database
from glue.model_registry.errors import Conflict, Invalid, NotFound, Unavailable
from glue.model_registry.models import utcnow
from glue.model_registry.service import numbering
from glue.model_registry.service.common import artifact_problem, check_artifact_uri
from glue.model_registry.service.versions import new_version_read, version_read
from glue.triton import layout
from glue.triton.config import ModelConfig, signature_mismatches
from glue.triton.layout import CONFIG_FILE, LayoutError, manifest_version_dir

log = structlog.get_logger("kubeai.registry")

#: How a registration ended: a new version, the existing one of the same source, or refused.
Outcome = Literal["created", "existing", "refused"]

#: Largest config.pbtxt read at registration (bytes).
MAX_CONFIG_BYTES = 1 << 20
#: An artifact of at most this many bytes in total and ``FULL_HASH_MAX_FILES`` files has every
#: file's sha256 checked at registration (see ``check_stored_artifact``).
FULL_HASH_MAX_BYTES = 64 << 20
#: Most files an artifact may hold to have every file's sha256 checked at registration.
FULL_HASH_MAX_FILES = 256

#: The artifact manifest's field in registration bodies (problem ``field`` prefix).
FILES_FIELD = "body.manifest.files"


@contextmanager
def _storage(uri: str) -> Iterator[None]:
    """Map artifact-store errors on ``uri`` to registry problems naming ``body.artifact_uri``.

    ``ArtifactNotFound`` -> ``Invalid``; ``ChecksumMismatch`` passes through; any other
    ``ArtifactError`` -> ``common.artifact_problem`` (``Unavailable`` for an outage,
    ``StorageNotConfigured`` naming the setting for a deployment that cannot read the storage,
    ``Invalid`` otherwise).
    """
    try:
        yield
    except ArtifactNotFound as exc:
        raise Invalid(
            f"{exc}; upload the artifact to {uri!r} before registering", field="body.artifact_uri"
        ) from exc
    except ChecksumMismatch:
        raise
    except ArtifactError as exc:
        raise artifact_problem(exc, field="body.artifact_uri") from exc


def check_stored_artifact(*, model: str, body: schemas.VersionCreate, store: ArtifactStore) -> None:
    """Refuse a version the serving agent could never install and serve.

    In order: the manifest's paths form one Triton version (``manifest_version_dir``); the
    artifact's listing equals the manifest (same paths, same sizes: ``compare_listing``);
    config.pbtxt's sha256 and size match; the paths and config pass ``check_artifact`` of
    ``glue.triton.layout`` (the same function the agent applies to what it downloads: name,
    backend/platform, the backend's model file, ``EXECUTION_ENV_PATH``, ``label_filename``);
    the signature equals the config's.

    Which contents are hashed: config.pbtxt always (it is read anyway). Every other file only
    when the artifact is small (at most ``FULL_HASH_MAX_BYTES`` in total and
    ``FULL_HASH_MAX_FILES`` files, e.g. the demo's models): reading a large model's weights
    from object storage on every registration would take minutes inside an HTTP request. For
    large artifacts, listing and sizes are compared and each declared sha256 is a well-formed
    digest (the manifest schema); the agent still checks every byte against the manifest while
    downloading, and refuses (keeping the old version serving) on a mismatch.

    Raises ``Invalid`` (field ``body.manifest.files.<path>`` for a file that differs from the
    manifest, ``body.manifest.files`` for the file list, ``body.artifact_uri`` for the content
    of config.pbtxt, ``body.signature``) or ``Unavailable`` when the artifact store cannot be
    reached.
    """
    files = body.manifest.files
    uri = body.artifact_uri.rstrip("/")
    try:
        manifest_version_dir(files)
        with _storage(uri):
            listing = store.list_sizes(uri)
            if not listing:
                raise ArtifactNotFound("the artifact holds no file")
            compare_listing(files, listing)
            raw = store.read_bytes(f"{uri}/{CONFIG_FILE}", max_bytes=MAX_CONFIG_BYTES)
            check_digest(CONFIG_FILE, digest_bytes(raw), files[CONFIG_FILE])
        config = layout.check_artifact(files, raw.decode("utf-8"), model).config
        check_signature(body.signature, config)
        if len(files) <= FULL_HASH_MAX_FILES and body.manifest.total_bytes <= FULL_HASH_MAX_BYTES:
            with _storage(uri):
                for rel in sorted(files.keys() - {CONFIG_FILE}):
                    data = store.read_bytes(f"{uri}/{rel}", max_bytes=files[rel].size)
                    check_digest(rel, digest_bytes(data), files[rel])
    except LayoutError as exc:
        field = "body.artifact_uri" if exc.field.startswith(CONFIG_FILE + ":") else FILES_FIELD
        raise Invalid(str(exc), field=field) from exc
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"{CONFIG_FILE}: unreadable as UTF-8 text: {exc}", field="body.artifact_uri"
        ) from exc
    except ChecksumMismatch as exc:
        raise Invalid(
            f"{exc}: the stored artifact differs from the manifest",
            field=f"{FILES_FIELD}.{exc.field}",
        ) from exc


def check_signature(signature: schemas.Signature, config: ModelConfig) -> None:
    """``Invalid`` (field ``body.signature``) unless ``signature`` equals the config's."""
    try:
        problems = signature_mismatches(signature, config)
    except ValueError as exc:  # a config without input or output
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


@dataclass(frozen=True)
class Target:
    """What a registration writes to, read in one query before the artifact check.

    ``model_id``: the model's row; ``existing``: the version already registered from the same
    source uid, if any; ``dataset_id``: the row of ``body.dataset`` (None when not given).
    """

    model_id: int
    existing: orm.ModelVersion | None
    dataset_id: int | None


def find_target(
    session: Session, *, team: str, model_name: str, body: schemas.VersionCreate
) -> Target:
    """The model, the version of ``body.source.uid`` and the dataset of a registration.

    One round trip: the model's id, the id of its version from the same source uid (outer
    join) and the dataset's id (scalar subquery); the existing version is loaded only when
    there is one (a retry). Raises ``NotFound`` (no such model, field ``path.model``) or
    ``Invalid`` (``body.dataset`` not recorded in the team).
    """
    mv = orm.ModelVersion
    dataset = (
        select(orm.Dataset.id)
        .where(orm.Dataset.team == team, orm.Dataset.name == body.dataset)
        .scalar_subquery()
        if body.dataset is not None
        else null()
    )
    row = session.execute(
        select(orm.Model.id, mv.id, dataset)
        .outerjoin(mv, and_(mv.model_id == orm.Model.id, mv.source_uid == body.source.uid))
        .where(orm.Model.team == team, orm.Model.name == model_name)
    ).first()
    if row is None:
        raise NotFound(f"model {model_name!r} does not exist in team {team!r}", field="path.model")
    model_id, version_id, dataset_id = row
    if body.dataset is not None and dataset_id is None:
        raise Invalid(
            f"dataset {body.dataset!r} is not recorded in team {team!r}; register it first",
            field="body.dataset",
        )
    existing = session.get(mv, version_id) if version_id is not None else None
    return Target(model_id=model_id, existing=existing, dataset_id=dataset_id)


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


def _version_row(
    *, model_id: int, dataset_id: int | None, body: schemas.VersionCreate, principal: Principal
) -> dict[str, Any]:
    """Column values of a new ``model_versions`` row except ``version``."""
    return {
        "model_id": model_id,
        "created_at": utcnow(),
        "artifact_uri": body.artifact_uri,
        "manifest": body.manifest.model_dump(mode="json"),
        "format": body.format,
        "signature": body.signature.model_dump(mode="json"),
        "metrics": body.metrics,
        "params": body.params,
        "dataset_id": dataset_id,
        "source_kind": body.source.kind,
        "source_namespace": body.source.namespace,
        "source_name": body.source.name,
        "source_uid": body.source.uid,
        "created_by": principal.name,
        "description": body.description,
    }


def _audit_row(
    *, team: str, body: schemas.VersionCreate, principal: Principal, at: datetime
) -> dict[str, Any]:
    """Column values of the ``version.register`` audit event except ``resource`` (it names the
    version number, which the write allocates)."""
    return {
        "at": at,
        "principal": principal.name,
        "method": principal.method,
        "team": team,
        "action": "version.register",
        "detail": {"artifact_uri": body.artifact_uri, "source_uid": body.source.uid},
    }


def _write_version(
    db: Database,
    *,
    team: str,
    model_name: str,
    target: Target,
    body: schemas.VersionCreate,
    principal: Principal,
) -> tuple[int, datetime]:
    """Number and insert the version with its audit event; returns ``(number, created_at)``.

    The number comes from the model's counter (``latest_version``), bumped in the same atomic
    write as the insert, so concurrent registrations (threads, worker processes, replicas) get
    consecutive numbers with no gap or duplicate, and a failed insert leaves no number used;
    concurrent registrations of this process are written together (``numbering``). No storage
    I/O happens here.

    Raises ``NotFound`` when the model vanished, ``IntegrityError`` when the source uid was
    registered concurrently.
    """
    row = _version_row(
        model_id=target.model_id, dataset_id=target.dataset_id, body=body, principal=principal
    )
    event = _audit_row(team=team, body=body, principal=principal, at=row["created_at"])
    number = numbering.number_and_insert(
        db,
        numbering.Pending(
            version=row, event=event, resource_prefix=f"models/{model_name}/versions/"
        ),
    )
    if number is None:
        raise NotFound(f"model {model_name!r} does not exist in team {team!r}", field="path.model")
    return number, row["created_at"]


@contextmanager
def _reading(db: Database) -> Iterator[Session]:
    """A session for the registration's one read: on PostgreSQL over an autocommit connection
    (no BEGIN/ROLLBACK round trips around the single SELECT), else ``db.reading()``."""
    if db.backend != "postgresql":
        with db.reading() as session:
            yield session
        return
    with (
        db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
        Session(bind=connection) as session,
    ):
        yield session


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
    artifact_prefixes: Sequence[str] = (),
) -> tuple[schemas.VersionRead, bool]:
    """Register a version of ``team``'s ``model_name`` by ``principal``; returns
    ``(version, created)``.

    In order: check ``body.artifact_uri`` (below one of ``artifact_prefixes``, the team's, when
    given); return the version already registered from the same
    ``source.uid`` (``created=False``) if any; with ``verify_config``, check the stored artifact
    against the manifest, the agent's layout rules and the signature (``check_stored_artifact``,
    storage I/O outside any transaction);
    then number and insert the version in one short write transaction. When a concurrent
    registration of the same source uid wins the race (``IntegrityError``), its version is read
    back and returned with ``created=False``. ``on_outcome`` is called once with how it ended
    (``refused`` only for a bad artifact URI or artifact).

    Raises ``Invalid`` (bad URI, config, layout or unknown dataset), ``NotFound`` (no such
    model), ``Conflict`` (source uid reused for another artifact) or ``Unavailable`` (artifact
    storage unreachable).
    """
    try:
        uri = check_artifact_uri(
            store=store,
            uri=body.artifact_uri,
            field="body.artifact_uri",
            prefixes=artifact_prefixes,
        )
        body = body.model_copy(update={"artifact_uri": uri})
    except Invalid:
        on_outcome("refused")
        raise
    with _reading(db) as session:
        target = find_target(session, team=team, model_name=model_name, body=body)
        if target.existing is not None:
            check_same_registration(target.existing, body)
            on_outcome("existing")
            return version_read(target.existing), False
    if verify_config:
        try:
            check_stored_artifact(model=model_name, body=body, store=store)
        except (Invalid, Unavailable):
            on_outcome("refused")
            raise
    try:
        number, created_at = _write_version(
            db, team=team, model_name=model_name, target=target, body=body, principal=principal
        )
        created = True
        result = new_version_read(
            team=team,
            model_name=model_name,
            number=number,
            created_at=created_at,
            created_by=principal.name,
            body=body,
        )
    except IntegrityError:
        # A concurrent registration of the same source uid won the race: return it.
        with db.reading() as session:
            again = find_by_source(session, model_id=target.model_id, uid=body.source.uid)
            if again is None:
                raise
            check_same_registration(again, body)
            created, result = False, version_read(again)
    on_outcome("created" if created else "existing")
    log.info("version registered", model=model_name, version=result.version, created=created)
    return result, created
