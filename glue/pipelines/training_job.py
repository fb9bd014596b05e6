"""The training job a pipeline run creates: a user's kubeflow.org/v1 manifest checked and made
fit for the ``train`` resource step (``prepare_job``).

What the step needs of it: a job kind whose status the training operator writes with the
conditions ``glue.pipelines.conditions`` reads (kubeflow.org/v1 ``JOB_KINDS``), the label
``kubeai.dev/model`` naming the registry model (the lifecycle controller registers the version
from it), a fresh object per run (``generateName``: a CronWorkflow runs the same manifest again
and again), and no other namespace than the workflow's.

A manifest copied from ``kubectl get -o yaml`` carries what the apiserver and controllers wrote
on the old object; ``prepare_job`` drops it (``SERVER_SET_METADATA``, ``status``, and the
annotations ``OUTCOME_ANNOTATIONS`` and ``kubectl.kubernetes.io/last-applied-configuration``):
an old ``uid``/``resourceVersion`` makes the create fail, an old ``ownerReferences`` hands the
new job to another owner's garbage collection, and the lifecycle controller never handles a job
that already carries its outcome annotation ``kubeai.dev/registration`` (no version would come).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import yaml
from pydantic import TypeAdapter, ValidationError

from glue.controller.jobs import MODEL_VERSION_ANNOTATION, OUTCOME_ANNOTATION
from glue.model_registry.schemas import Name

#: kubeflow.org/v1 kinds the lifecycle controller registers versions from.
JOB_KINDS = ("PyTorchJob", "TFJob", "XGBoostJob", "MPIJob")
JOB_API_VERSION = "kubeflow.org/v1"
MODEL_LABEL = "kubeai.dev/model"
_NAME = TypeAdapter(Name)
#: ``metadata`` keys the apiserver (or a controller) sets on an object; never part of a new job.
SERVER_SET_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "selfLink",
)
#: Annotations recording how the lifecycle controller handled a job (``glue.controller``): its
#: outcome and version, and kopf's retry state (prefix ``kopf.kubeai.dev/``).
OUTCOME_ANNOTATIONS = (OUTCOME_ANNOTATION, MODEL_VERSION_ANNOTATION)
_DROPPED_ANNOTATION_PREFIXES = ("kopf.kubeai.dev/", "kubectl.kubernetes.io/last-applied")
#: Longest ``generateName`` prefix: the apiserver appends 5 characters to make a 63-long name.
GENERATE_NAME_MAX = 58


class JobManifestError(ValueError):
    """The training-job manifest cannot be run; the message names the field."""


def load_manifest(text: str) -> dict[str, Any]:
    """``text`` (YAML or JSON, one document) as a mapping; ``JobManifestError`` otherwise."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise JobManifestError(f"training job: not valid YAML or JSON{where}") from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise JobManifestError("training job: give exactly one object (a mapping)")
    return documents[0]


def check_model(model: str) -> None:
    """``JobManifestError`` unless ``model`` is a registry model name (``schemas.Name``: a
    DNS-1123 label, 1..63 characters)."""
    try:
        _NAME.validate_python(model)
    except ValidationError:
        raise JobManifestError(
            f"model {model!r}: not a registry model name (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, 1..63 characters)"
        ) from None


def prepare_job(text: str, *, model: str, namespace: str | None = None) -> dict[str, Any]:
    """The manifest of ``text`` ready for the ``train`` step.

    Checks ``apiVersion``/``kind`` (``JOB_KINDS``), a ``spec`` mapping, ``metadata.namespace``
    (absent or ``namespace``), the label ``kubeai.dev/model`` (absent or ``model``). Returns a
    copy with that label set, the namespace removed (the step creates the job in the workflow's)
    and ``metadata.name`` turned into ``generateName: <name>-`` (``<model>-`` without a name),
    without ``status``, ``SERVER_SET_METADATA`` and the controller's outcome annotations
    (module docstring). Raises ``JobManifestError`` naming the field.
    """
    manifest = load_manifest(text)
    if manifest.get("apiVersion") != JOB_API_VERSION or manifest.get("kind") not in JOB_KINDS:
        raise JobManifestError(
            f"training job: apiVersion/kind {manifest.get('apiVersion')}/{manifest.get('kind')} "
            f"is not one of {', '.join(f'{JOB_API_VERSION}/{k}' for k in JOB_KINDS)}"
        )
    if not isinstance(manifest.get("spec"), dict):
        raise JobManifestError("training job: spec: must be a mapping")
    check_model(model)
    metadata = manifest.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise JobManifestError("training job: metadata: must be a mapping")
    metadata = {k: v for k, v in metadata.items() if k not in SERVER_SET_METADATA}
    annotations = metadata.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise JobManifestError("training job: metadata.annotations: must be a mapping")
    if annotations is not None:
        kept = {
            k: v
            for k, v in annotations.items()
            if k not in OUTCOME_ANNOTATIONS and not str(k).startswith(_DROPPED_ANNOTATION_PREFIXES)
        }
        if kept:
            metadata["annotations"] = kept
        else:
            metadata.pop("annotations")
    given_namespace = metadata.pop("namespace", None)
    if given_namespace is not None and given_namespace != namespace:
        raise JobManifestError(
            f"training job: metadata.namespace {given_namespace!r}: the pipeline creates the "
            f"job in its own namespace {namespace!r}; remove the key"
        )
    labels = metadata.get("labels")
    labels = {} if labels is None else labels
    if not isinstance(labels, dict):
        raise JobManifestError("training job: metadata.labels: must be a mapping")
    if labels.get(MODEL_LABEL, model) != model:
        raise JobManifestError(
            f"training job: metadata.labels.{MODEL_LABEL} {labels[MODEL_LABEL]!r} differs "
            f"from the pipeline's model {model!r}"
        )
    metadata["labels"] = {**labels, MODEL_LABEL: model}
    name = metadata.pop("name", None)
    prefix = metadata.get("generateName") or f"{name or model}-"
    if not isinstance(prefix, str) or len(prefix) > GENERATE_NAME_MAX:
        raise JobManifestError(
            f"training job: metadata.name/generateName: at most {GENERATE_NAME_MAX - 1} "
            "characters (each run appends a suffix)"
        )
    metadata["generateName"] = prefix
    job = {k: v for k, v in manifest.items() if k != "status"}
    return {**job, "metadata": metadata}


def dumps(manifest: dict[str, Any]) -> str:
    """``manifest`` as one line of JSON (what the step hands to the ``train`` step)."""
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True)


#: Outcomes the lifecycle controller records on a job that will never have a version.
FAILED_OUTCOMES = ("TrainingFailed", "RegistrationFailed")


class JobLookupError(RuntimeError):
    """The job cannot be read from the apiserver; ``permanent`` when retrying cannot help
    (403: the ServiceAccount may not read it; 404: the job is gone)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _status_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason_phrase)
    except ValueError:
        return response.reason_phrase


def failed_outcome(client: httpx.Client, *, namespace: str, kind: str, name: str) -> str | None:
    """Why the lifecycle controller gave up on job ``kind``/``name`` in ``namespace``: its
    outcome annotation (``kubeai.dev/registration``) when it is one of ``FAILED_OUTCOMES``,
    with the message of the controller's latest Event of that reason; None while the job may
    still get a version.

    ``client`` is an ``httpx.Client`` on the apiserver (needs ``get`` on the job kind and
    ``list`` on core events in ``namespace``; without the latter the reason has no message).
    Raises ``JobLookupError`` (``permanent`` for 403/404 and an unknown ``kind``).
    """
    if kind not in JOB_KINDS:
        raise JobLookupError(
            f"job kind {kind!r} is not one of {', '.join(JOB_KINDS)}", permanent=True
        )
    path = f"/apis/{JOB_API_VERSION}/namespaces/{namespace}/{kind.lower()}s/{name}"
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise JobLookupError(
            f"cannot read {kind} {namespace}/{name}: {exc}", permanent=False
        ) from exc
    if response.status_code != 200:
        raise JobLookupError(
            f"reading {kind} {namespace}/{name}: {response.status_code} "
            f"{_status_message(response)}",
            permanent=response.status_code in (401, 403, 404),
        )
    metadata = response.json().get("metadata") or {}
    outcome = (metadata.get("annotations") or {}).get(OUTCOME_ANNOTATION)
    if outcome not in FAILED_OUTCOMES:
        return None
    why = f"{kind} {namespace}/{name}: the lifecycle controller recorded {outcome}"
    try:
        events = client.get(
            f"/api/v1/namespaces/{namespace}/events",
            params={"fieldSelector": f"involvedObject.uid={metadata.get('uid')}"},
        )
    except httpx.HTTPError:
        return why
    if events.status_code != 200:
        return f"{why} (its Events cannot be read: {events.status_code})"
    items = [e for e in events.json().get("items") or [] if e.get("reason") == outcome]
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return f"{why}: {items[-1].get('message')}" if items else why
