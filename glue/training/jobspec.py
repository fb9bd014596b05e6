"""The short training spec of ``kubeai train submit`` and the PyTorchJob it renders (pure).

A spec (YAML, camelCase keys)::

    model: digits                       # registry model name -> label kubeai.dev/model
    image: registry.example/train:1.2
    command: [python, train.py]
    args: [--epochs, "10"]              # optional
    workers: 2                          # Worker replicas besides the one Master (default 0)
    gpusPerReplica: 1                   # nvidia.com/gpu per replica (default 0)
    cpu: "4"                            # per replica, requests = limits
    memory: 16Gi
    datasetPvc: click-logs              # optional: a PVC (a Fluid dataset's) mounted read-only
    datasetMountPath: /data             # default /data
    params: {lr: 0.01}                  # optional: annotation kubeai.dev/params + env KUBEAI_PARAMS
    artifactUri: s3://bucket/models/x   # optional: annotation kubeai.dev/artifact-uri
    name: digits-run-7                  # optional: else generateName <model>-

``render_pytorchjob`` turns it into a kubeflow.org/v1 PyTorchJob (field names of the pinned
training-operator v1.9.4 CRD) for the team's limits (``TeamLimits``, read from the same params
ConfigMap ``kubeai-training-limits`` the admission policy reads, ``infra.policies.training``):
``spec.runPolicy.schedulingPolicy`` with the team's ``queue`` and ``minAvailable`` = all replicas
(the gang), the GPU toleration of the team's GPU nodes on GPU replicas, the training
ServiceAccount ``kubeai-training``, container ``pytorch`` (the operator's default name), and
the spec's resources as requests = limits. ``params`` become the JSON annotation
``kubeai.dev/params`` (what the lifecycle controller records on the version,
``glue.controller.jobs.params``) and the same JSON in env ``KUBEAI_PARAMS`` of every container (for
the training code, which cannot read its job's annotations); param names follow the controller's
rule (1-63 of letters, digits, ``.``, ``_``, ``/``, ``-``) and values are strings, booleans, ints
or finite floats. A spec the limits can never hold raises ``JobSpecError`` naming the key, before
anything is sent.

Strict types: ``workers``/``gpusPerReplica`` are integers (``true`` or ``"3"`` are refused, not
coerced); ``cpu``/``memory`` are Kubernetes quantities no larger than the apiserver keeps
(``infra.quantity``: ``1e400`` is refused); ``datasetMountPath`` is an absolute, normalised path
(no ``.``/``..`` segments) that neither is ``/`` nor lies in a system directory
(``SYSTEM_PATHS``: mounting a dataset there would hide the image's own files or the kubelet's
mounts, e.g. the ServiceAccount token under ``/var/run``).
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from infra.quantity import parse_quantity

#: Names shared with ``infra.policies.training`` (kept literal: glue does not import infra).
LIMITS_CONFIGMAP = "kubeai-training-limits"
MODEL_LABEL = "kubeai.dev/model"
ARTIFACT_ANNOTATION = "kubeai.dev/artifact-uri"
TRAINING_SERVICE_ACCOUNT = "kubeai-training"
GPU_RESOURCE = "nvidia.com/gpu"
PARAMS_ANNOTATION = "kubeai.dev/params"
PARAMS_ENV = "KUBEAI_PARAMS"
CONTAINER = "pytorch"

#: Directories a dataset is never mounted on, nor under (``/`` itself is refused too): the
#: Filesystem Hierarchy Standard's system directories plus ``/tmp`` and ``/var`` (training code
#: writes there; the kubelet mounts the ServiceAccount token under ``/var/run/secrets``).
SYSTEM_PATHS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/tmp",  # noqa: S108 (refused, not used)
    "/usr",
    "/var",
)
#: Param names the lifecycle controller accepts (``glue.controller.jobs``).
_PARAM_NAME = re.compile(r"^[A-Za-z0-9._/-]{1,63}$")

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


class JobSpecError(ValueError):
    """A bad spec or limits: ``path`` is the key path (``workers``, ``data.queue``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class JobSpec(BaseModel):
    """The short spec (module docstring); unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    model: Name
    image: str = Field(min_length=1, max_length=512, pattern=r"^[^\s]+$")
    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    workers: StrictInt = Field(default=0, ge=0, le=10_000)
    gpus_per_replica: StrictInt = Field(default=0, ge=0, le=64)
    cpu: str = "1"
    memory: str = "4Gi"
    dataset_pvc: Name | None = None
    dataset_mount_path: str = Field(default="/data", pattern=r"^/[^\s]*$")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    artifact_uri: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*://[^\s]+$")
    name: Name | None = None

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a quantity such as 500m, 4 or 16Gi")
        try:
            parse_quantity(str(value))
        except ValueError as exc:
            raise ValueError(f"must be a quantity such as 500m, 4 or 16Gi ({exc})") from None
        return str(value)

    @field_validator("dataset_mount_path")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        if posixpath.normpath(value) != value or "/./" in f"{value}/" or "/../" in f"{value}/":
            raise ValueError(f"{value!r} is not a normalised absolute path (no ., .. or //)")
        hidden = [s for s in SYSTEM_PATHS if value == s or value.startswith(f"{s}/")]
        if value == "/" or hidden:
            raise ValueError(
                f"{value!r} would hide {hidden[0] if hidden else 'the root'} of the image (not /, "
                f"nor in any of {', '.join(SYSTEM_PATHS)}); mount datasets on e.g. /data"
            )
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, given in value.items():
            if not _PARAM_NAME.fullmatch(name):
                raise ValueError(
                    f"param name {name!r}: 1-63 letters, digits, '.', '_', '/' or '-' (what "
                    "the lifecycle controller accepts)"
                )
            if isinstance(given, float) and not math.isfinite(given):
                raise ValueError(f"param {name!r}: {given} is not a finite number")
        return value

    @property
    def replicas(self) -> int:
        """All replicas: the Master and the workers."""
        return 1 + self.workers


def parse_spec(document: Any) -> JobSpec:
    """``JobSpec`` from a parsed YAML document; ``JobSpecError`` naming the first bad key path."""
    if not isinstance(document, dict):
        raise JobSpecError("(spec)", "must be a mapping of keys (model, image, command, ...)")
    try:
        return JobSpec.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in error["loc"]) or "(spec)"
        raise JobSpecError(path, error["msg"]) from None


class TeamLimits(BaseModel):
    """What ``render_pytorchjob`` needs of the team's params ConfigMap ``data``.

    ``queue``: the team's Volcano Queue; ``max_gpus_per_node``: None when unknown;
    ``gpu_taint``: ``(key, value, effect)`` of the GPU nodes' taint, None when untainted.
    """

    model_config = ConfigDict(frozen=True)

    queue: str
    max_gpus_per_node: int | None = None
    gpu_taint: tuple[str, str, str] | None = None

    @classmethod
    def from_configmap(cls, configmap: dict[str, Any]) -> TeamLimits:
        """From the ConfigMap object (as read from the apiserver); ``JobSpecError`` naming the
        missing or bad ``data`` key."""
        data = configmap.get("data") or {}
        if not data.get("queue"):
            raise JobSpecError(f"ConfigMap {LIMITS_CONFIGMAP} data.queue", "missing")
        most = data.get("maxGpusPerNode")
        if most is not None and not str(most).isdigit():
            raise JobSpecError(
                f"ConfigMap {LIMITS_CONFIGMAP} data.maxGpusPerNode", f"{most!r} is no count"
            )
        taint = None
        if data.get("gpuTaintKey"):
            taint = (
                data["gpuTaintKey"],
                data.get("gpuTaintValue", ""),
                data.get("gpuTaintEffect", "NoSchedule"),
            )
        return cls(
            queue=data["queue"],
            max_gpus_per_node=None if most is None else int(most),
            gpu_taint=taint,
        )


def _params_json(spec: JobSpec) -> str:
    """``params`` as one JSON object (sorted keys), for the annotation and the env."""
    return json.dumps(spec.params, sort_keys=True, allow_nan=False)


def _pod(spec: JobSpec, limits: TeamLimits) -> dict[str, Any]:
    amounts: dict[str, Any] = {"cpu": spec.cpu, "memory": spec.memory}
    if spec.gpus_per_replica:
        amounts[GPU_RESOURCE] = str(spec.gpus_per_replica)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "command": list(spec.command),
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
    }
    if spec.args:
        container["args"] = list(spec.args)
    if spec.params:
        container["env"] = [{"name": PARAMS_ENV, "value": _params_json(spec)}]
    pod: dict[str, Any] = {
        "serviceAccountName": TRAINING_SERVICE_ACCOUNT,
        "containers": [container],
    }
    if spec.dataset_pvc:
        container["volumeMounts"] = [
            {"name": "dataset", "mountPath": spec.dataset_mount_path, "readOnly": True}
        ]
        pod["volumes"] = [
            {
                "name": "dataset",
                "persistentVolumeClaim": {"claimName": spec.dataset_pvc, "readOnly": True},
            }
        ]
    if spec.gpus_per_replica and limits.gpu_taint is not None:
        key, _, effect = limits.gpu_taint
        pod["tolerations"] = [{"key": key, "operator": "Exists", "effect": effect}]
    return {"spec": pod}


def render_pytorchjob(spec: JobSpec, limits: TeamLimits, *, namespace: str) -> dict[str, Any]:
    """The PyTorchJob of ``spec`` in ``namespace`` for the team's ``limits`` (module docstring).

    Raises ``JobSpecError`` (key ``gpusPerReplica``) when one replica asks for more GPUs than
    the largest node of the team's pools holds.
    """
    most = limits.max_gpus_per_node
    if most is not None and spec.gpus_per_replica > most:
        raise JobSpecError(
            "gpusPerReplica",
            f"{spec.gpus_per_replica} GPUs per replica, but the largest node in the team's pools "
            f"has {most}",
        )
    meta: dict[str, Any] = {"namespace": namespace, "labels": {MODEL_LABEL: spec.model}}
    if spec.name:
        meta["name"] = spec.name
    else:
        meta["generateName"] = f"{spec.model[:56]}-"
    annotations: dict[str, str] = {}
    if spec.artifact_uri:
        annotations[ARTIFACT_ANNOTATION] = spec.artifact_uri
    if spec.params:
        annotations[PARAMS_ANNOTATION] = _params_json(spec)
    if annotations:
        meta["annotations"] = annotations
    replica_specs: dict[str, Any] = {
        "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": _pod(spec, limits)}
    }
    if spec.workers:
        replica_specs["Worker"] = {
            "replicas": spec.workers,
            "restartPolicy": "OnFailure",
            "template": _pod(spec, limits),
        }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": meta,
        "spec": {
            "runPolicy": {
                "schedulingPolicy": {"queue": limits.queue, "minAvailable": spec.replicas}
            },
            "pytorchReplicaSpecs": replica_specs,
        },
    }
