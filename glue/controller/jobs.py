"""Training jobs as the lifecycle controller reads them: pure functions over job objects (dicts).

Which kinds are watched (``WATCHED``), how each kind says it finished (``phase``), when
(``completion_time``), where it wrote its output (``artifact_uri``), and what the version body
records (``build_version``). Nothing here talks to the apiserver, the registry or storage: the
operator and ``registration`` pass the objects and file contents in.

Facts per kind, with their upstream source:

- kubeflow.org/v1 PyTorchJob, TFJob, XGBoostJob, MPIJob (training-operator v1.9.4): the job is
  finished when ``status.conditions`` holds ``{type: Succeeded, status: "True"}`` or ``{type:
  Failed, status: "True"}`` (``JobConditionType`` in ``pkg/apis/kubeflow.org/v1/common_types.go``;
  ``IsSucceeded``/``IsFailed`` in ``pkg/util/status.go``); ``status.completionTime`` is set when
  it finishes (``JobStatus.CompletionTime``, same file). Replica pod templates live under
  ``spec.<pytorch|tf|xgb|mpi>ReplicaSpecs.<Type>.template`` (``PyTorchJobSpec`` etc. in
  ``pkg/apis/kubeflow.org/v1/*_types.go``).
- batch/v1 Job (Kubernetes): success is a ``Complete`` condition with status ``"True"``, or
  ``SuccessCriteriaMet`` (a Job with a ``successPolicy``, Kubernetes >= 1.31, set before
  ``Complete``); failure is ``Failed`` (``JobConditionType`` in ``k8s.io/api/batch/v1/types.go``).
  ``FailureTarget`` is only the announcement of a coming ``Failed`` and is not treated as final.
  ``status.completionTime`` is set only on success (same file), so a failed Job's time is the
  condition's ``lastTransitionTime``. The pod template is ``spec.template``.
- batch.volcano.sh/v1alpha1 Job (Volcano v1.15.1): ``status.state.phase`` is one of Pending,
  Aborting, Aborted, Running, Restarting, Completing, Completed, Terminating, Terminated, Failed
  (``JobPhase`` in ``volcano.sh/apis`` ``pkg/apis/batch/v1alpha1/job.go``); ``Completed`` is
  success, ``Failed``, ``Aborted`` and ``Terminated`` are final failures; the phase's
  ``status.state.lastTransitionTime`` is when it was reached. Pod templates are
  ``spec.tasks[].template``.

Conventions of the controller (labels and annotations are the ``kubeai.dev/*`` vocabulary):

- ``kubeai.dev/model`` (label, required): the registry model name (a DNS-1123 label).
- ``kubeai.dev/artifact-uri`` (annotation): where the job wrote its output. Without it the
  output is expected at ``<artifact root>/teams/<team>/models/<model>/jobs/<job uid>``
  (``default_artifact_uri``). Either way it must lie below ``<artifact root>/teams/<team>/``
  (``registration.check_artifact_scope``). The output directory holds ``model/`` (a Triton
  model directory: ``config.pbtxt`` and a version directory), optionally ``metrics.json``
  (``{"name": number}``) and optionally ``manifest.json`` (the sha256 ``Manifest`` of
  ``model/``; without it the controller hashes ``model/``'s files itself, see
  ``registration``).
- ``kubeai.dev/params`` (annotation, optional): a JSON object of hyperparameters (string, number
  or boolean values). Environment variables ``KUBEAI_PARAM_<NAME>`` with a literal ``value`` in
  the first container of the primary replica (Master, Chief, Launcher, else the first replica
  type in name order) are params too (``<name>`` lower-cased); the annotation wins on a clash.
- Images: every container of every replica is recorded as the param
  ``image.<replica>.<container>`` (lower-cased, at most 63 characters). A reference pinned by
  digest (``...@sha256:<64 hex>``) is recorded as is; any other (a tag) is recorded as written
  and the param ``images-pinned`` is ``"false"``, so lineage says the image is not reproducible
  (the controller reads no pods, so it cannot learn the digest a node pulled).
- Dataset: the annotation ``kubeai.dev/dataset`` names it; otherwise the PVCs the pod templates
  mount (``claim_names``) are candidates, and the operator takes the first one that is a Fluid
  Dataset of the job's namespace (Fluid names a dataset's PVC after the dataset). An annotation
  naming a dataset synced from a Fluid Dataset needs that PVC mounted too
  (``registration.check_dataset_mounted``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from glue.artifacts.manifest import Manifest
from glue.model_registry import schemas
from glue.model_registry.schemas import DNS1123_LABEL

MODEL_LABEL = "kubeai.dev/model"
ARTIFACT_URI_ANNOTATION = "kubeai.dev/artifact-uri"
MODEL_VERSION_ANNOTATION = "kubeai.dev/model-version"
DATASET_ANNOTATION = "kubeai.dev/dataset"
PARAMS_ANNOTATION = "kubeai.dev/params"
#: Annotation the controller writes with how handling ended: ``Registered``, ``TrainingFailed``
#: or ``RegistrationFailed`` (the reasons of its Events). A job carrying it is not handled
#: again; remove it to have the controller try once more.
OUTCOME_ANNOTATION = "kubeai.dev/registration"
#: Environment variable prefix of params in the primary container.
PARAM_ENV_PREFIX = "KUBEAI_PARAM_"
#: Files of a job's output directory (relative to its artifact URI).
MODEL_DIR = "model"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
#: Replica types taken as the primary one (params come from its first container), in order.
PRIMARY_REPLICAS = ("master", "chief", "launcher")

Phase = Literal["Running", "Succeeded", "Failed"]

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_PARAM_KEY = re.compile(r"^[A-Za-z0-9._/-]{1,63}$")


class BadJob(ValueError):  # noqa: N818 - reads as a state in `except` clauses
    """A job's labels, annotations or output cannot make a version; ``field`` names the place
    (``metadata.labels.kubeai.dev/model``, ``artifact metrics.json``...)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class JobKind:
    """One watched kind: API group, version, plural and kind; ``replica_specs`` names the spec
    field of kubeflow replica specs (``None`` for batch and Volcano jobs)."""

    group: str
    version: str
    plural: str
    kind: str
    replica_specs: str | None = None

    @property
    def api_version(self) -> str:
        """``group/version``."""
        return f"{self.group}/{self.version}"


WATCHED: tuple[JobKind, ...] = (
    JobKind("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob", "pytorchReplicaSpecs"),
    JobKind("kubeflow.org", "v1", "tfjobs", "TFJob", "tfReplicaSpecs"),
    JobKind("kubeflow.org", "v1", "xgboostjobs", "XGBoostJob", "xgbReplicaSpecs"),
    JobKind("kubeflow.org", "v1", "mpijobs", "MPIJob", "mpiReplicaSpecs"),
    JobKind("batch", "v1", "jobs", "Job"),
    JobKind("batch.volcano.sh", "v1alpha1", "jobs", "Job"),
)

_VOLCANO_FAILED = frozenset({"Failed", "Aborted", "Terminated"})


def kind_of(body: Mapping[str, Any]) -> JobKind:
    """The ``WATCHED`` kind of ``body`` (by apiVersion and kind); ``BadJob`` if not watched."""
    api_version, kind = body.get("apiVersion", ""), body.get("kind", "")
    for candidate in WATCHED:
        if candidate.api_version == api_version and candidate.kind == kind:
            return candidate
    raise BadJob(f"{api_version} {kind} is not a watched kind", field="apiVersion")


def _conditions(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``status.conditions`` by type (the last of each type wins)."""
    found: dict[str, dict[str, Any]] = {}
    for condition in (body.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and isinstance(condition.get("type"), str):
            found[condition["type"]] = condition
    return found


def _true(conditions: Mapping[str, Mapping[str, Any]], *types: str) -> Mapping[str, Any] | None:
    for name in types:
        condition = conditions.get(name)
        if condition is not None and condition.get("status") == "True":
            return condition
    return None


def phase(kind: JobKind, body: Mapping[str, Any]) -> Phase:
    """``Succeeded``, ``Failed`` or ``Running`` (anything not final) for a job of ``kind``."""
    if kind.group == "batch.volcano.sh":
        state = ((body.get("status") or {}).get("state") or {}).get("phase")
        if state == "Completed":
            return "Succeeded"
        return "Failed" if state in _VOLCANO_FAILED else "Running"
    conditions = _conditions(body)
    success = ("Complete", "SuccessCriteriaMet") if kind.group == "batch" else ("Succeeded",)
    if _true(conditions, *success):
        return "Succeeded"
    return "Failed" if _true(conditions, "Failed") else "Running"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp of the apiserver (``2026-01-02T03:04:05Z``) as an aware datetime;
    None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def completion_time(kind: JobKind, body: Mapping[str, Any]) -> datetime | None:
    """When the job finished: ``status.completionTime`` (kubeflow, batch), else the final
    condition's (Volcano: the state's) ``lastTransitionTime``; None while running."""
    status = body.get("status") or {}
    if kind.group == "batch.volcano.sh":
        return parse_time((status.get("state") or {}).get("lastTransitionTime"))
    found = parse_time(status.get("completionTime"))
    if found is not None:
        return found
    conditions = _conditions(body)
    final = ("Complete", "SuccessCriteriaMet", "Succeeded", "Failed")
    condition = _true(conditions, *final)
    return parse_time(condition.get("lastTransitionTime")) if condition else None


def failure_message(kind: JobKind, body: Mapping[str, Any]) -> str:
    """The reason and message the job's status gives for its failure (one line)."""
    status = body.get("status") or {}
    if kind.group == "batch.volcano.sh":
        state = status.get("state") or {}
        text = f"{state.get('phase')}: {state.get('reason') or ''} {state.get('message') or ''}"
    else:
        condition = _conditions(body).get("Failed") or {}
        text = f"{condition.get('reason') or 'Failed'}: {condition.get('message') or ''}"
    return " ".join(text.split()).rstrip(":")


def _meta(body: Mapping[str, Any], key: str) -> dict[str, str]:
    return dict((body.get("metadata") or {}).get(key) or {})


def model_name(body: Mapping[str, Any]) -> str:
    """The label ``kubeai.dev/model``; ``BadJob`` unless it is a DNS-1123 label."""
    name = _meta(body, "labels").get(MODEL_LABEL, "")
    if not re.fullmatch(DNS1123_LABEL, name) or len(name) > 63:
        raise BadJob(
            f"{name!r} is not a model name (a DNS-1123 label: lowercase letters, digits and "
            "'-', at most 63 characters)",
            field=f"metadata.labels.{MODEL_LABEL}",
        )
    return name


def default_artifact_uri(*, root: str, team: str, model: str, uid: str) -> str:
    """The conventional output URI ``<root>/teams/<team>/models/<model>/jobs/<uid>``."""
    return f"{root.rstrip('/')}/teams/{team}/models/{model}/jobs/{uid}"


def artifact_uri(body: Mapping[str, Any], *, root: str, team: str) -> str:
    """The job's output URI: the annotation ``kubeai.dev/artifact-uri``, else
    ``default_artifact_uri`` (without a trailing ``/``)."""
    given = _meta(body, "annotations").get(ARTIFACT_URI_ANNOTATION, "").strip()
    if given:
        return given.rstrip("/")
    meta = body.get("metadata") or {}
    return default_artifact_uri(root=root, team=team, model=model_name(body), uid=meta["uid"])


def pod_templates(kind: JobKind, body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(replica, pod spec)`` of every pod template of the job, primary replica first.

    ``replica`` is the lower-cased replica type (kubeflow), the task name (Volcano) or ``job``
    (batch/v1).
    """
    spec = body.get("spec") or {}
    if kind.replica_specs is not None:
        replicas = {
            str(name).lower(): (value or {}).get("template") or {}
            for name, value in (spec.get(kind.replica_specs) or {}).items()
        }
        order = sorted(
            replicas,
            key=lambda n: (PRIMARY_REPLICAS.index(n) if n in PRIMARY_REPLICAS else 99, n),
        )
        for name in order:
            yield name, replicas[name].get("spec") or {}
    elif kind.group == "batch.volcano.sh":
        for index, task in enumerate(spec.get("tasks") or []):
            name = str((task or {}).get("name") or f"task{index}").lower()
            yield name, ((task or {}).get("template") or {}).get("spec") or {}
    else:
        yield "job", (spec.get("template") or {}).get("spec") or {}


def _string(value: object, *, field: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadJob(f"{value!r} is not a string, number or boolean", field=field)


def params(kind: JobKind, body: Mapping[str, Any]) -> dict[str, str]:
    """Hyperparameters: ``KUBEAI_PARAM_*`` of the primary container, then the annotation
    ``kubeai.dev/params`` (JSON object) over them. ``BadJob`` names the annotation or key."""
    found: dict[str, str] = {}
    for _replica, pod in pod_templates(kind, body):
        containers = pod.get("containers") or []
        for env in (containers[0].get("env") or []) if containers else []:
            name = str(env.get("name") or "")
            if name.startswith(PARAM_ENV_PREFIX) and "value" in env:
                found[name[len(PARAM_ENV_PREFIX) :].lower()] = str(env["value"])
        break
    raw = _meta(body, "annotations").get(PARAMS_ANNOTATION)
    field = f"metadata.annotations.{PARAMS_ANNOTATION}"
    if raw is not None:
        try:
            given = json.loads(raw)
        except ValueError as exc:
            raise BadJob(f"not JSON: {exc}", field=field) from None
        if not isinstance(given, dict):
            raise BadJob("must be a JSON object of name -> value", field=field)
        for key, value in given.items():
            found[str(key)] = _string(value, field=f"{field}.{key}")
    for key in found:
        if not _PARAM_KEY.fullmatch(key):
            raise BadJob(
                "param names are 1-63 characters of letters, digits, '.', '_', '/' and '-'",
                field=f"{field}.{key}",
            )
    return found


def images(kind: JobKind, body: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """``({"image.<replica>.<container>": reference}, pinned)``: every container image of the
    job's pod templates (init containers included), and whether every one is pinned by
    digest (``@sha256:``)."""
    found: dict[str, str] = {}
    pinned = True
    for replica, pod in pod_templates(kind, body):
        for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            image = str(container.get("image") or "")
            if not image:
                continue
            container_name = str(container.get("name") or "")
            key = f"image.{replica}.{container_name}".lower()[:63]
            found[key] = image
            pinned = pinned and bool(_DIGEST.search(image))
    return found, pinned


def claim_names(kind: JobKind, body: Mapping[str, Any]) -> list[str]:
    """Names of the PVCs the pod templates mount, in order, each once."""
    names: dict[str, None] = {}
    for _replica, pod in pod_templates(kind, body):
        for volume in pod.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                names[str(claim)] = None
    return list(names)


def dataset_annotation(body: Mapping[str, Any]) -> str | None:
    """The annotation ``kubeai.dev/dataset`` (stripped), or None."""
    return _meta(body, "annotations").get(DATASET_ANNOTATION, "").strip() or None


def source_ref(kind: JobKind, body: Mapping[str, Any]) -> schemas.SourceRef:
    """The version's source: the job's kind, namespace, name and uid."""
    meta = body.get("metadata") or {}
    return schemas.SourceRef(
        kind=kind.kind, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]
    )


#: Triton ``platform`` or ``backend`` -> the registry's version ``format``.
FORMATS = {
    "python": "triton-python",
    "onnxruntime": "onnx",
    "onnxruntime_onnx": "onnx",
    "pytorch": "pytorch-libtorch",
    "pytorch_libtorch": "pytorch-libtorch",
    "tensorflow": "tensorflow-savedmodel",
    "tensorflow_savedmodel": "tensorflow-savedmodel",
    "tensorrt": "tensorrt",
    "tensorrt_plan": "tensorrt",
    "openvino": "openvino",
}


def model_format(platform: str, backend: str) -> str:
    """The version format of a config's ``platform``/``backend``; ``BadJob`` if unknown."""
    for value in (platform, backend):
        if value in FORMATS:
            return FORMATS[value]
    raise BadJob(
        f"platform {platform!r} / backend {backend!r} is none of {', '.join(sorted(FORMATS))}",
        field=f"artifact {MODEL_DIR}/config.pbtxt",
    )


def parse_metrics(raw: bytes) -> dict[str, float]:
    """``metrics.json``: a JSON object of finite numbers; ``BadJob`` naming the file/key."""
    field = f"artifact {METRICS_FILE}"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadJob(f"not JSON: {exc}", field=field) from None
    if not isinstance(data, dict):
        raise BadJob("must be a JSON object of name -> number", field=field)
    metrics: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadJob(f"{value!r} is not a number", field=f"{field}.{key}")
        metrics[str(key)] = float(value)
    return metrics


def parse_manifest(raw: bytes) -> Manifest:
    """``manifest.json``: a ``Manifest`` of ``model/``; ``BadJob`` naming the file."""
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise BadJob(f"{where}: {error['msg']}", field=f"artifact {MANIFEST_FILE}") from None


@dataclass(frozen=True)
class JobOutput:
    """What the controller read from the job's output directory."""

    model_uri: str
    manifest: Manifest
    signature: schemas.Signature
    format: str
    metrics: dict[str, float]


def build_version(
    kind: JobKind, body: Mapping[str, Any], *, output: JobOutput, dataset: str | None
) -> schemas.VersionCreate:
    """The registration body of a succeeded job: its output, params and image references,
    the dataset and the source reference. ``BadJob`` names the field a registry would refuse."""
    recorded = params(kind, body)
    found, pinned = images(kind, body)
    recorded.update(found)
    recorded["images-pinned"] = "true" if pinned else "false"
    meta = body.get("metadata") or {}
    try:
        return schemas.VersionCreate(
            artifact_uri=output.model_uri,
            manifest=output.manifest,
            format=output.format,  # checked by the model
            signature=output.signature,
            metrics=output.metrics,
            params=recorded,
            dataset=dataset,
            source=source_ref(kind, body),
            description=f"trained by {kind.kind} {meta.get('namespace')}/{meta.get('name')}",
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise BadJob(error["msg"], field=f"version body {where}") from None
