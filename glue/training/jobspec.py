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
    params: {lr: 0.01}                  # optional: env KUBEAI_PARAMS (JSON)
    artifactUri: s3://bucket/models/x   # optional: annotation kubeai.dev/artifact-uri
    name: digits-run-7                  # optional: else generateName <model>-

``render_pytorchjob`` turns it into a kubeflow.org/v1 PyTorchJob (field names of the pinned
training-operator v1.9.4 CRD) for the team's limits (``TeamLimits``, read from the same params
ConfigMap ``kubeai-training-limits`` the admission policy reads, ``infra.policies.training``):
``spec.runPolicy.schedulingPolicy`` with the team's ``queue`` and ``minAvailable`` = all replicas
(the gang), the GPU toleration of the team's GPU nodes on GPU replicas, the training
ServiceAccount ``kubeai-training``, container ``pytorch`` (the operator's default name), and
the spec's resources as requests = limits. A spec the limits can never hold raises
``JobSpecError`` naming the key, before anything is sent.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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
PARAMS_ENV = "KUBEAI_PARAMS"
CONTAINER = "pytorch"

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
    workers: int = Field(default=0, ge=0, le=10_000)
    gpus_per_replica: int = Field(default=0, ge=0, le=64)
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
        except ValueError:
            raise ValueError("must be a quantity such as 500m, 4 or 16Gi") from None
        return str(value)

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
        container["env"] = [{"name": PARAMS_ENV, "value": json.dumps(spec.params, sort_keys=True)}]
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
    if spec.artifact_uri:
        meta["annotations"] = {ARTIFACT_ANNOTATION: spec.artifact_uri}
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
