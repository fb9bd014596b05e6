"""The use case "a training job succeeded: register its version", exactly once.

``register_job`` asks the registry first whether the job's uid already has a version (a replayed
event, a restarted controller, or a job that registered itself): then that version is the
answer. Otherwise it checks that a dataset named by annotation was mounted
(``check_dataset_mounted``) and that the output lies in the team's part of the artifact root
(``check_artifact_scope``), reads the job's output from the artifact store (``read_output``),
builds the body (``jobs.build_version``), creates the model when missing and registers the
version. The registry's idempotency by ``source.uid``
(``glue.model_registry.service.registration``) makes a second registration of the same uid and
artifact return the first version, so a crash between registering and recording the outcome on
the job never makes two versions.

Errors: ``Retry`` when trying again later can succeed (registry or storage unreachable, a
dataset the registry does not know yet); ``Refused`` when the job cannot make a version as it
is (the message names the field, label, annotation or artifact file to fix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from glue.artifacts.errors import (
    ArtifactError,
    ArtifactNotFound,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageMisconfigured,
    StorageUnavailable,
)
from glue.artifacts.manifest import Manifest, compare_listing, digest_bytes
from glue.artifacts.store import ArtifactStore
from glue.controller import jobs
from glue.controller.jobs import BadJob, JobKind, JobOutput
from glue.model_registry import artifact_scope, schemas
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.triton.config import parse_model_config, signature_of
from glue.triton.layout import CONFIG_FILE

#: Largest ``config.pbtxt``, ``metrics.json`` and ``manifest.json`` read (bytes).
MAX_SIDE_FILE_BYTES = 1 << 20
#: Without ``manifest.json`` the controller hashes ``model/`` itself, up to this many bytes in
#: total; a larger model must come with its ``manifest.json``.
MAX_HASHED_BYTES = 256 << 20


class Retry(Exception):  # noqa: N818 - reads as an instruction in `except` clauses
    """Try again later; ``reason`` is the metrics label (``registry_unavailable``...)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Refused(Exception):  # noqa: N818
    """The job cannot make a version as it is; ``field`` names what to fix."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Registered:
    """The job's version: ``version`` number of ``model``; ``created`` False when the registry
    already had it (replay, restart, or the job registered itself)."""

    model: str
    version: int
    created: bool


def _storage(exc: ArtifactError, uri: str) -> Exception:
    """The ``Retry`` or ``Refused`` of a storage error on ``uri``."""
    if isinstance(exc, StorageUnavailable):
        return Retry(f"artifact storage unavailable: {exc}", reason="storage_unavailable")
    field = f"artifact {uri}"
    if isinstance(exc, StorageMisconfigured):
        return Refused(f"{exc} (set {exc.setting})", field=field)
    if isinstance(exc, ArtifactNotFound):
        return Refused(
            f"{exc}; the job must write its output there (annotation "
            f"{jobs.ARTIFACT_URI_ANNOTATION} or the default location)",
            field=field,
        )
    return Refused(str(exc), field=field)


def _hash_model(store: ArtifactStore, model_uri: str, listing: Mapping[str, int]) -> Manifest:
    total = sum(listing.values())
    if total > MAX_HASHED_BYTES:
        raise BadJob(
            f"{model_uri} holds {total} bytes, more than the {MAX_HASHED_BYTES} the controller "
            f"hashes itself; write {jobs.MANIFEST_FILE} (glue.artifacts.manifest.build_manifest "
            "of the model directory) next to it",
            field=f"artifact {jobs.MANIFEST_FILE}",
        )
    files = {
        rel: digest_bytes(store.read_bytes(store.join_uri(model_uri, rel), max_bytes=size))
        for rel, size in sorted(listing.items())
    }
    return Manifest(files=files)


def read_output(store: ArtifactStore, uri: str) -> JobOutput:
    """The model, manifest, signature, format and metrics of the job output at ``uri``.

    Raises ``Retry`` (storage unavailable), ``Refused`` (nothing there, unreadable files) or
    ``BadJob`` naming the artifact file that is invalid.
    """
    try:
        uri = store.check_uri(uri)
        model_uri = store.join_uri(uri, jobs.MODEL_DIR)
        listing = store.list_sizes(model_uri)
        if not listing:
            raise ArtifactNotFound(f"no files at {model_uri}")
        raw_config = store.read_bytes(
            store.join_uri(model_uri, CONFIG_FILE), max_bytes=MAX_SIDE_FILE_BYTES
        )
        metrics: dict[str, float] = {}
        metrics_uri = store.join_uri(uri, jobs.METRICS_FILE)
        if store.exists(metrics_uri):
            raw = store.read_bytes(metrics_uri, max_bytes=MAX_SIDE_FILE_BYTES)
            metrics = jobs.parse_metrics(raw)
        manifest_uri = store.join_uri(uri, jobs.MANIFEST_FILE)
        if store.exists(manifest_uri):
            manifest = jobs.parse_manifest(
                store.read_bytes(manifest_uri, max_bytes=MAX_SIDE_FILE_BYTES)
            )
            compare_listing(manifest.files, listing)
        else:
            manifest = _hash_model(store, model_uri, listing)
    except ChecksumMismatch as exc:
        raise BadJob(
            f"{exc}: it does not describe the files of {jobs.MODEL_DIR}/",
            field=f"artifact {jobs.MANIFEST_FILE}",
        ) from exc
    except ArtifactError as exc:
        raise _storage(exc, uri) from exc
    try:
        config = parse_model_config(raw_config.decode("utf-8"))
        signature = signature_of(config)
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadJob(str(exc), field=f"artifact {jobs.MODEL_DIR}/{CONFIG_FILE}") from exc
    return JobOutput(
        model_uri=model_uri,
        manifest=manifest,
        signature=signature,
        format=jobs.model_format(config.platform, config.backend),
        metrics=metrics,
    )


def _registry_error(exc: RegistryError) -> Exception:
    """``Retry`` for an unknown dataset (the dataset handler may record it soon) and for a
    refused token (401: the projected token may be rotating), ``Refused`` otherwise."""
    errors = [e for e in exc.problem.get("errors", []) if isinstance(e, dict)]
    field = str(errors[0].get("field")) if errors else "registry"
    if exc.status == 422 and field == "body.dataset":
        return Retry(str(exc), reason="dataset_unknown")
    if exc.status == 401:
        return Retry(str(exc), reason="registry_unavailable")
    return Refused(str(exc), field=field)


def check_artifact_scope(store: ArtifactStore, uri: str, *, root: str, team: str) -> str:
    """The normalised job output ``uri`` when it lies below ``<root>/teams/<team>/``
    (``artifact_scope.team_prefix``): the controller reads outputs with its own storage
    credentials, so a job may only point at its team's part of the artifact root.

    Raises ``Refused`` naming the annotation ``kubeai.dev/artifact-uri`` and the allowed prefix
    when the URI is malformed (``..``, ``%``, a query...), of another scheme or bucket, or below
    another team's prefix (``teams/cv-evil`` is not ``teams/cv``)."""
    field = f"metadata.annotations.{jobs.ARTIFACT_URI_ANNOTATION}"
    allowed = artifact_scope.team_prefix(root, team)
    try:
        prefix = store.check_uri(allowed)
    except InvalidArtifactURI as exc:
        raise Refused(
            f"the controller's artifact root {root!r} is not usable: {exc}", field=field
        ) from exc
    try:
        normalised = store.check_uri(uri)
    except InvalidArtifactURI as exc:
        raise Refused(f"{uri!r}: {exc}; it must lie below {prefix}/", field=field) from exc
    if not artifact_scope.is_below(normalised, [prefix]):
        raise Refused(
            f"{uri!r} lies outside team {team!r}'s artifacts: it must lie below {prefix}/",
            field=field,
        )
    return normalised


def check_dataset_mounted(
    registry: RegistryClient, kind: JobKind, body: Mapping[str, Any], dataset: str | None
) -> None:
    """``Refused`` naming the annotation ``kubeai.dev/dataset`` when it names a dataset synced
    from a Fluid Dataset that the job does not mount (its PVC, named after it, in the job's
    namespace): lineage must name data the job read. File datasets (no PVC) are taken by name;
    a dataset the registry does not know yet is left to the registration (``Retry``)."""
    named = jobs.dataset_annotation(body)
    if dataset is None or named != dataset:
        return
    try:
        record = registry.get_dataset(dataset)
    except RegistryError as exc:
        if exc.status in (404, 422):
            return
        raise
    source = record.source
    if source is None:
        return
    namespace = (body.get("metadata") or {}).get("namespace")
    if source.namespace != namespace or source.name not in jobs.claim_names(kind, body):
        raise Refused(
            f"{dataset!r} is the Fluid Dataset {source.namespace}/{source.name}; the job must "
            f"mount its PVC {source.name!r} (in namespace {source.namespace!r}) to name it",
            field=f"metadata.annotations.{jobs.DATASET_ANNOTATION}",
        )


def register_job(
    *,
    kind: JobKind,
    body: Mapping[str, Any],
    team: str,
    registry: RegistryClient,
    store: ArtifactStore,
    root: str,
    dataset: str | None,
) -> Registered:
    """Register the version of the succeeded job ``body`` of ``team`` (see the module doc).

    ``registry`` acts in ``team``; ``root`` is the artifact root of the output convention, and
    the output must lie below ``<root>/teams/<team>/`` (``check_artifact_scope``);
    ``dataset`` is the registry dataset the job read (None: none known; a synced one named by
    the annotation must be mounted: ``check_dataset_mounted``).
    Raises ``Retry``, ``Refused`` or ``BadJob``.
    """
    model = jobs.model_name(body)
    uid = str((body.get("metadata") or {}).get("uid"))
    try:
        found = registry.find_version_by_source(model, uid)
        if found is not None:
            return Registered(model=model, version=found.version, created=False)
        check_dataset_mounted(registry, kind, body, dataset)
        uri = jobs.artifact_uri(body, root=root, team=team)
        output = read_output(store, check_artifact_scope(store, uri, root=root, team=team))
        version_body = jobs.build_version(kind, body, output=output, dataset=dataset)
        registry.ensure_model(schemas.ModelCreate(name=model, team=team))
        version, created = registry.register_version_created(model, version_body, team=team)
    except RegistryUnavailable as exc:
        raise Retry(str(exc), reason="registry_unavailable") from exc
    except RegistryError as exc:
        raise _registry_error(exc) from exc
    return Registered(model=model, version=version.version, created=created)
