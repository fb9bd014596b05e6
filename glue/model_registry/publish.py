"""The publish step, client side: upload a directory to the artifact store and record it.

``publish_model``: upload a Triton model directory, read its signature from its ``config.pbtxt``
and register the version (the training entrypoint, the benchmarks and the tests all publish
through it). ``publish_dataset``: upload a dataset directory and record it (``kubeai datasets
add`` and the demo's digits dataset). ``upload_model`` is the first half of ``publish_model``
for callers that send the registration themselves (the registry benchmark times it).

Everything here talks to the registry through ``RegistryClient`` and to storage through
``ArtifactStore``; errors are theirs (``RegistryError``, ``RegistryUnavailable``,
``glue.artifacts.errors.*``) plus ``DatasetConflict`` and a ``ValueError`` for a config.pbtxt
that does not parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from glue.artifacts.manifest import Manifest, build_manifest
from glue.artifacts.store import ArtifactStore
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient, RegistryError
from glue.triton.config import parse_model_config, signature_of

R = TypeVar("R")

#: The model configuration file every Triton model directory holds at its top.
CONFIG_FILE = "config.pbtxt"


@dataclass(frozen=True)
class UploadedModel:
    """A model directory in the artifact store: its URI, sha256 manifest and signature."""

    artifact_uri: str
    manifest: Manifest
    signature: schemas.Signature


@dataclass(frozen=True)
class Published(Generic[R]):
    """What a publish call registered: the ``record`` and whether this call ``created`` it.

    ``created`` is False when the registry already held it (same source uid for a version, same
    name and manifest for a dataset) and answered with the existing record.
    """

    record: R
    created: bool


class DatasetConflict(Exception):  # noqa: N818 - reads as a noun in `except` clauses
    """The dataset name is already recorded with other files or another URI (datasets are
    immutable: record a new name). Raised before anything is uploaded."""


def read_signature(model_dir: Path) -> schemas.Signature:
    """The signature of the Triton model directory ``model_dir`` (from its ``config.pbtxt``).

    Raises ``ValueError`` naming the file when it is missing, does not parse, or declares no
    input or output.
    """
    path = Path(model_dir) / CONFIG_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the model configuration: {exc}") from exc
    try:
        return signature_of(parse_model_config(text))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def upload_model(*, store: ArtifactStore, model_dir: Path, uri: str) -> UploadedModel:
    """Upload ``model_dir`` to ``uri`` and read its signature; nothing is registered.

    The signature is read first, so a directory without a valid ``config.pbtxt`` is refused
    (``ValueError``) before anything is uploaded. Storage errors are ``ArtifactStore.upload_dir``'s.
    """
    signature = read_signature(model_dir)
    manifest = store.upload_dir(Path(model_dir), uri)
    return UploadedModel(artifact_uri=store.check_uri(uri), manifest=manifest, signature=signature)


def publish_model(
    *,
    store: ArtifactStore,
    registry: RegistryClient,
    model: str | schemas.ModelCreate,
    model_dir: Path,
    uri: str,
    source: schemas.SourceRef,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    dataset: str | None = None,
    format: str = "triton-python",
    description: str = "",
) -> Published[schemas.VersionRead]:
    """Upload a Triton model directory, read its signature and register the version.

    Args:
        store: where ``uri`` lives.
        registry: the registry to register with.
        model: the model's name, or a ``ModelCreate`` to create the model first when missing.
        model_dir: local Triton model directory (``config.pbtxt`` + version directory).
        uri: artifact URI to upload to (artifacts are immutable).
        source: the object that produced the version; its ``uid`` makes registration
            idempotent: the same uid and artifact again returns the registered version, the
            same uid with another artifact is refused (``RegistryError`` 409), so a caller that
            may retry with new files looks the uid up first (``find_version_by_source``).
        metrics, params, dataset, format, description: recorded with the version (the registry
            records the authenticated caller as ``created_by``).

    Returns ``Published(record=VersionRead, created=...)``; ``created`` is False when the
    registry already held a version of ``source.uid`` and returned it.

    Raises ``ValueError`` (bad config.pbtxt, before uploading), ``pydantic.ValidationError``
    (a field the registry would refuse), the artifact store's errors, ``RegistryError`` (4xx)
    and ``RegistryUnavailable``.
    """
    uploaded = upload_model(store=store, model_dir=model_dir, uri=uri)
    body = schemas.VersionCreate.model_validate(
        {
            "artifact_uri": uploaded.artifact_uri,
            "manifest": uploaded.manifest,
            "format": format,
            "signature": uploaded.signature,
            "metrics": metrics or {},
            "params": params or {},
            "dataset": dataset,
            "source": source,
            "description": description,
        }
    )
    if isinstance(model, schemas.ModelCreate):
        registry.ensure_model(model)
        name = model.name
    else:
        name = model
    team = model.team if isinstance(model, schemas.ModelCreate) else None
    version, created = registry.register_version_created(name, body, team=team)
    return Published(record=version, created=created)


def publish_dataset(
    *,
    store: ArtifactStore,
    registry: RegistryClient,
    source_dir: Path,
    uri: str,
    name: str,
    team: str,
    rows: int,
    description: str = "",
) -> Published[schemas.DatasetRead]:
    """Upload a dataset directory to ``uri`` (sha256 manifest) and record it in the registry.

    Every field is checked (``pydantic.ValidationError``) and the registry asked whether
    ``name`` is already recorded before anything is uploaded: the same files at the same URI
    again are idempotent (``created=False``); other files or another URI raise
    ``DatasetConflict``. Returns ``Published(record=DatasetRead, created=...)``.

    Raises ``ValueError`` if ``source_dir`` is not a directory of files, the artifact store's
    errors (``StorageUnavailable`` when storage cannot be reached), ``RegistryError``,
    ``RegistryUnavailable``.
    """
    source = Path(source_dir)
    if not source.is_dir():
        raise ValueError(f"{source} is not a directory")
    local = build_manifest(source)
    body = schemas.DatasetCreate(
        name=name, team=team, uri=uri, manifest=local, rows=rows, description=description
    )
    try:
        existing = registry.get_dataset(name, team=team)
    except RegistryError as exc:
        if exc.status != 404:
            raise
    else:
        if existing.manifest != local or existing.uri.rstrip("/") != uri.rstrip("/"):
            raise DatasetConflict(
                f"dataset {name!r} is already recorded with other files or URI "
                f"({existing.uri}); record a new name instead"
            )
    manifest = store.upload_dir(source, store.check_uri(uri))
    dataset, created = registry.register_dataset_created(
        body.model_copy(update={"manifest": manifest})
    )
    return Published(record=dataset, created=created)
