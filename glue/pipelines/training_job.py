"""The training job a pipeline run creates: a user's kubeflow.org/v1 manifest checked and made
fit for the ``train`` resource step (``prepare_job``).

What the step needs of it: a job kind whose status the training operator writes with the
conditions ``glue.pipelines.conditions`` reads (kubeflow.org/v1 ``JOB_KINDS``), the label
``kubeai.dev/model`` naming the registry model (the lifecycle controller registers the version
from it), a fresh object per run (``generateName``: a CronWorkflow runs the same manifest again
and again), and no other namespace than the workflow's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

#: kubeflow.org/v1 kinds the lifecycle controller registers versions from.
JOB_KINDS = ("PyTorchJob", "TFJob", "XGBoostJob", "MPIJob")
JOB_API_VERSION = "kubeflow.org/v1"
MODEL_LABEL = "kubeai.dev/model"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
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


def prepare_job(text: str, *, model: str, namespace: str | None = None) -> dict[str, Any]:
    """The manifest of ``text`` ready for the ``train`` step.

    Checks ``apiVersion``/``kind`` (``JOB_KINDS``), a ``spec`` mapping, ``metadata.namespace``
    (absent or ``namespace``), the label ``kubeai.dev/model`` (absent or ``model``). Returns a
    copy with that label set, the namespace removed (the step creates the job in the workflow's)
    and ``metadata.name`` turned into ``generateName: <name>-`` (``<model>-`` without a name).
    Raises ``JobManifestError`` naming the field.
    """
    manifest = load_manifest(text)
    if manifest.get("apiVersion") != JOB_API_VERSION or manifest.get("kind") not in JOB_KINDS:
        raise JobManifestError(
            f"training job: apiVersion/kind {manifest.get('apiVersion')}/{manifest.get('kind')} "
            f"is not one of {', '.join(f'{JOB_API_VERSION}/{k}' for k in JOB_KINDS)}"
        )
    if not isinstance(manifest.get("spec"), dict):
        raise JobManifestError("training job: spec: must be a mapping")
    if not _LABEL_VALUE.match(model) or len(model) > 63:
        raise JobManifestError(f"model {model!r}: not a label value")
    metadata = manifest.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise JobManifestError("training job: metadata: must be a mapping")
    metadata = dict(metadata)
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
    return {**manifest, "metadata": metadata}


def dumps(manifest: dict[str, Any]) -> str:
    """``manifest`` as one line of JSON (what the step hands to the ``train`` step)."""
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True)
