"""The whole stack configuration as pydantic models, validated once before any resource exists.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds keys in the ``kubeai`` namespace. Two kinds of
stack share this module (``kubeai:stackKind``):

* ``platform`` — one per cluster/environment: cluster and GPU node pools, add-ons, glue services,
  platform-wide settings;
* ``team`` — one per team and environment: namespace, Volcano queue, quota, RBAC, datasets and
  inference services. It names its platform stack (``kubeai:platformStack``) and reads that
  stack's outputs through a StackReference.

Errors are ``ConfigError`` listing every problem as ``kubeai:<key path>: message``; an unknown
key also gets a did-you-mean suggestion (``kubeai:quota.gpuQouta: unknown key; did you mean
'gpus'?``). Secrets (database DSN, object-store keys, registry pull keys) are never plain config:
they are read with ``Config.require_secret`` and the example stacks carry none.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra.quantity import parse_quantity

NAMESPACE = "kubeai"
#: Key of the GPU extended resource (NVIDIA device plugin, ``nvidia.com/gpu``).
GPU_RESOURCE = "nvidia.com/gpu"
#: Default taint of GPU pools and label every GPU node carries (device plugin affinity
#: ``nvidia.com/gpu.present=true``; NVIDIA/k8s-device-plugin values.yaml at v0.20.0).
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL)]
LabelKey = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=253, pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9._-]{1,63}$"
    ),
]
LabelValue = Annotated[
    str, StringConstraints(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
]
Quantity = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class ConfigError(ValueError):
    """Invalid stack configuration; ``problems`` is a list of ``(key path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class Strict(BaseModel):
    """Base: camelCase keys as in the stack file, unknown keys are errors, values immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


def _check_quantity(value: str | int | float | None) -> str | None:
    if value is None:
        return None
    parse_quantity(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# shared pieces


class Taint(Strict):
    """A node taint: key, value, effect (NoSchedule, PreferNoSchedule, NoExecute)."""

    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class Toleration(Strict):
    """A pod toleration (``operator`` Exists matches any value; empty key + Exists matches all)."""

    key: str = ""
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] = ""

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration lets a pod schedule onto a node with ``taint``."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value

    def manifest(self) -> dict[str, str]:
        """The Kubernetes ``tolerations[]`` entry."""
        out: dict[str, str] = {"operator": self.operator}
        if self.key:
            out["key"] = self.key
        if self.operator == "Equal":
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        return out


GPU_TOLERATION = Toleration(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule")


def untolerated(taints: list[Taint], tolerations: list[Toleration]) -> list[Taint]:
    """Taints (NoSchedule/NoExecute) that none of ``tolerations`` tolerates."""
    return [
        t
        for t in taints
        if t.effect != "PreferNoSchedule" and not any(tol.tolerates(t) for tol in tolerations)
    ]


class Resources(Strict):
    """Amounts of CPU (cores), memory (bytes) and GPUs, as Kubernetes quantities / counts."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpus: int | None = Field(default=None, ge=0, le=100_000)

    _q = field_validator("cpu", "memory")(_check_quantity)

    def amount(self, resource: Literal["cpu", "memory", "gpus"]) -> Decimal | None:
        """The amount of one resource (None when unset)."""
        value = getattr(self, resource)
        return None if value is None else parse_quantity(value)

    def as_resource_list(self) -> dict[str, str]:
        """Kubernetes ``ResourceList`` (``cpu``, ``memory``, ``nvidia.com/gpu``)."""
        out: dict[str, str] = {}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.memory is not None:
            out["memory"] = self.memory
        if self.gpus is not None:
            out[GPU_RESOURCE] = str(self.gpus)
        return out


def _exceeds(small: Resources, big: Resources) -> list[str]:
    """Resources set in ``small`` that are larger than (or unset in) ``big``."""
    out = []
    resources: tuple[Literal["cpu", "memory", "gpus"], ...] = ("cpu", "memory", "gpus")
    for resource in resources:
        a, b = small.amount(resource), big.amount(resource)
        if a is not None and (b is None or a > b):
            out.append(f"{resource} {getattr(small, resource)} > {getattr(big, resource)}")
    return out


class ChartSource(Strict):
    """Where a Helm chart comes from: a repository URL (mirror allowed) or a local chart path."""

    repository: str | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ChartSource:
        if self.repository and self.path:
            raise ValueError("set either 'repository' (URL) or 'path' (local chart), not both")
        if self.repository and not self.repository.startswith(("https://", "http://", "oci://")):
            raise ValueError("'repository' must be an https://, http:// or oci:// URL")
        return self


# ---------------------------------------------------------------------------------------------
# platform stack


class ExistingCluster(Strict):
    """An existing cluster reached through a kubeconfig (kind, on-prem); nothing is provisioned."""

    kubeconfig: str | None = None
    context: str | None = None


class EksCluster(Strict):
    """An existing EKS cluster whose managed node groups we add (pulumi_aws.eks.NodeGroup)."""

    cluster_name: Name
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
    node_role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
    subnet_ids: list[Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]+$")]] = Field(
        min_length=1
    )


class GkeCluster(Strict):
    """An existing GKE cluster whose node pools we add (pulumi_gcp.container.NodePool)."""

    project: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    location: str = Field(min_length=2, max_length=64)
    cluster_name: Name


class AckCluster(Strict):
    """An existing Alibaba Cloud ACK cluster; we add node pools (pulumi_alicloud.cs.NodePool)."""

    cluster_id: str = Field(pattern=r"^c[0-9a-z]{20,40}$")
    region: str = Field(pattern=r"^[a-z]{2}-[a-z0-9-]+$")
    vswitch_ids: list[Annotated[str, StringConstraints(pattern=r"^vsw-[0-9a-z]+$")]] = Field(
        min_length=1
    )


class Cluster(Strict):
    """``kubeai:cluster``: the provider and its provider-specific block."""

    name: Name
    provider: Literal["existing", "eks", "gke", "ack"]
    kubernetes_version: str = Field(default="1.34", pattern=r"^1\.[0-9]{2}$")
    existing: ExistingCluster | None = None
    eks: EksCluster | None = None
    gke: GkeCluster | None = None
    ack: AckCluster | None = None

    @model_validator(mode="after")
    def _provider_block(self) -> Cluster:
        blocks = {"existing": self.existing, "eks": self.eks, "gke": self.gke, "ack": self.ack}
        if self.provider != "existing" and blocks[self.provider] is None:
            raise ValueError(f"provider {self.provider!r} needs the '{self.provider}' block")
        extra = [k for k, v in blocks.items() if v is not None and k != self.provider]
        if extra:
            raise ValueError(f"block(s) {extra} do not belong to provider {self.provider!r}")
        return self


class NodePool(Strict):
    """A GPU (or CPU) node pool: one shape over every provider.

    ``gpusPerNode`` 0 makes a CPU pool. GPU pools get the label ``nvidia.com/gpu.present=true``
    and, unless ``taints`` is given, the taint ``nvidia.com/gpu=present:NoSchedule``.
    """

    name: Name
    instance_type: str = Field(min_length=1, max_length=64)
    gpu_type: str = Field(default="", max_length=64, pattern=r"^[a-z0-9-]*$")
    gpus_per_node: int = Field(default=0, ge=0, le=16)
    min_size: int = Field(default=0, ge=0, le=1000)
    max_size: int = Field(ge=0, le=1000)
    capacity_type: Literal["onDemand", "spot"] = "onDemand"
    disk_size_gb: int = Field(default=100, ge=20, le=16_384)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    taints: list[Taint] | None = None

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} must be <= maxSize {self.max_size}")
        if self.gpus_per_node and not self.gpu_type:
            raise ValueError("a GPU pool (gpusPerNode > 0) needs gpuType, e.g. nvidia-a10")
        return self

    @property
    def is_gpu(self) -> bool:
        """Whether the pool's nodes have GPUs."""
        return self.gpus_per_node > 0

    @property
    def effective_taints(self) -> list[Taint]:
        """The taints its nodes carry (the GPU taint by default on GPU pools)."""
        if self.taints is not None:
            return list(self.taints)
        return [Taint(key=GPU_TAINT_KEY, value="present")] if self.is_gpu else []

    @property
    def effective_labels(self) -> dict[str, str]:
        """Its node labels, with ``nvidia.com/gpu.present=true`` on GPU pools."""
        labels = {"kubeai.dev/pool": self.name, **self.labels}
        if self.is_gpu:
            labels[GPU_PRESENT_LABEL] = "true"
            labels["kubeai.dev/gpu-type"] = self.gpu_type
        return labels

    @property
    def max_gpus(self) -> int:
        """GPUs the pool can supply at its maximum size."""
        return self.max_size * self.gpus_per_node


class VolcanoAddon(Strict):
    """Volcano batch scheduler (gang, priority, proportion, drf; preempt and reclaim actions)."""

    enabled: bool = True
    scheduler_replicas: int = Field(default=1, ge=1, le=5)
    controller_replicas: int = Field(default=1, ge=1, le=5)
    chart: ChartSource = Field(default_factory=ChartSource)


FluidEngine = Literal["alluxio", "jindo", "juicefs", "thin", "goosefs", "efc", "vineyard"]
_DEFAULT_ENGINES: tuple[FluidEngine, ...] = ("alluxio", "juicefs")


class FluidAddon(Strict):
    """Fluid dataset caching; ``runtimes`` are kept running from the start."""

    enabled: bool = True
    runtimes: list[FluidEngine] = Field(default_factory=lambda: list(_DEFAULT_ENGINES))
    chart: ChartSource = Field(default_factory=ChartSource)


class TrainingOperatorAddon(Strict):
    """Kubeflow training operator v1 (kustomize overlay over the pinned, verified manifests)."""

    enabled: bool = True


class ArgoArtifactRepository(Strict):
    """Where Argo keeps workflow artifacts: the platform's object store (bucket + key prefix)."""

    bucket: Name
    key_prefix: str = Field(default="argo", max_length=256, pattern=r"^[A-Za-z0-9._/-]*$")


class ArgoAddon(Strict):
    """Argo Workflows from its release manifests (CRDs, controller, server) at the pinned tag."""

    enabled: bool = True
    artifact_repository: ArgoArtifactRepository | None = None


class GpuAddon(Strict):
    """GPU enablement: ``auto`` = device plugin where nodes bring none (EKS, existing), none on
    GKE/ACK (their GPU nodes run one); or force ``devicePlugin``, ``gpuOperator``, ``none``."""

    mode: Literal["auto", "devicePlugin", "gpuOperator", "none"] = "auto"
    tolerations: list[Toleration] = Field(default_factory=lambda: [GPU_TOLERATION])
    chart: ChartSource = Field(default_factory=ChartSource)


class TritonServing(Strict):
    """Platform defaults of the Triton serving layer used by every inference service."""

    image: str = Field(
        default="nvcr.io/nvidia/tritonserver:26.07-py3",
        pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$",
    )
    image_pull_secret: Name | None = "nvcr-pull"  # noqa: S105 - a Secret object name
    model_repository_size: Quantity = "10Gi"
    poll_interval_seconds: float = Field(default=5.0, ge=0.5, le=600)

    _q = field_validator("model_repository_size")(_check_quantity)

    @field_validator("image")
    @classmethod
    def _no_latest(cls, value: str) -> str:
        if value.endswith(":latest"):
            raise ValueError("images are pinned: use a version tag or digest, never 'latest'")
        return value


class GlueImage(Strict):
    """The one glue image (registry, serving agent): repository and a pinned tag (required)."""

    repository: str = Field(pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")

    @field_validator("tag")
    @classmethod
    def _no_latest(cls, value: str) -> str:
        if value == "latest":
            raise ValueError(
                "the glue image tag must be pinned (a version or git sha), never 'latest'"
            )
        return value


class GlueServices(Strict):
    """The glue services: image and the registry's database."""

    image: GlueImage
    database: Literal["sqlite", "postgresql"] = "sqlite"
    storage_size: Quantity = "5Gi"
    storage_class: Name | None = None
    replicas: int = Field(default=1, ge=1, le=10)

    _q = field_validator("storage_size")(_check_quantity)

    @model_validator(mode="after")
    def _sqlite_single(self) -> GlueServices:
        if self.database == "sqlite" and self.replicas != 1:
            raise ValueError(
                "the SQLite registry runs as a single replica; use postgresql for more"
            )
        return self


class Addons(Strict):
    """``kubeai:addons``."""

    volcano: VolcanoAddon = Field(default_factory=VolcanoAddon)
    fluid: FluidAddon = Field(default_factory=FluidAddon)
    training_operator: TrainingOperatorAddon = Field(default_factory=TrainingOperatorAddon)
    argo: ArgoAddon = Field(default_factory=ArgoAddon)
    gpu: GpuAddon = Field(default_factory=GpuAddon)


class ArtifactStore(Strict):
    """``kubeai:artifactStore``: the platform's object store (models, datasets, Argo artifacts)."""

    kind: Literal["s3", "oss", "gcs", "minio"]
    bucket: Name
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+$")
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")

    @model_validator(mode="after")
    def _endpoint(self) -> ArtifactStore:
        if self.kind in ("oss", "minio") and not self.endpoint_url:
            raise ValueError(f"kind {self.kind!r} needs endpointUrl")
        return self


class PlatformConfig(Strict):
    """A platform stack's configuration."""

    stack_kind: Literal["platform"]
    environment: Name
    cluster: Cluster
    node_pools: list[NodePool] = Field(default_factory=list, max_length=50)
    addons: Addons = Field(default_factory=Addons)
    triton: TritonServing = Field(default_factory=TritonServing)
    glue: GlueServices
    artifact_store: ArtifactStore
    #: Label on team namespaces that the Argo controller and glue services watch.
    team_label: LabelKey = "kubeai.dev/team"

    @property
    def gpu_mode(self) -> Literal["devicePlugin", "gpuOperator", "none"]:
        """GPU enablement after resolving ``auto`` for the provider."""
        mode = self.addons.gpu.mode
        if mode != "auto":
            return mode
        if not any(p.is_gpu for p in self.node_pools):
            return "none"
        return "none" if self.cluster.provider in ("gke", "ack") else "devicePlugin"

    @property
    def gpu_capacity(self) -> dict[str, int]:
        """GPUs the pools can supply at maximum size, by GPU type (``{"nvidia-a10": 16}``)."""
        out: dict[str, int] = {}
        for pool in self.node_pools:
            if pool.is_gpu:
                out[pool.gpu_type] = out.get(pool.gpu_type, 0) + pool.max_gpus
        return out


# ---------------------------------------------------------------------------------------------
# team stack


class TeamGroups(Strict):
    """Identity-provider groups bound to the team's namespace roles."""

    admins: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list
    )
    members: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list
    )
    viewers: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list
    )


class Team(Strict):
    """``kubeai:team``."""

    name: Name
    groups: TeamGroups = Field(default_factory=TeamGroups)
    pod_security: Literal["restricted", "baseline", "privileged"] = "baseline"


class Queue(Strict):
    """``kubeai:queue``: the team's Volcano Queue (scheduling.volcano.sh/v1beta1).

    ``guarantee`` <= ``deserved`` <= ``capability`` per resource; ``weight`` >= 1.
    """

    weight: int = Field(default=1, ge=1, le=65_535)
    capability: Resources
    deserved: Resources | None = None
    guarantee: Resources | None = None
    reclaimable: bool = True
    priority: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _ordering(self) -> Queue:
        if self.guarantee and (over := _exceeds(self.guarantee, self.capability)):
            raise ValueError(f"guarantee exceeds capability: {', '.join(over)}")
        if self.deserved and (over := _exceeds(self.deserved, self.capability)):
            raise ValueError(f"deserved exceeds capability: {', '.join(over)}")
        if self.guarantee and self.deserved and (over := _exceeds(self.guarantee, self.deserved)):
            raise ValueError(f"guarantee exceeds deserved: {', '.join(over)}")
        return self


class Quota(Strict):
    """``kubeai:quota``: the namespace ResourceQuota (requests; GPUs as requests.nvidia.com/gpu)."""

    gpus: int = Field(default=0, ge=0, le=100_000)
    cpu: Quantity
    memory: Quantity
    pods: int = Field(default=500, ge=1, le=100_000)
    storage: Quantity = "1Ti"
    persistent_volume_claims: int = Field(default=50, ge=0, le=10_000)

    _q = field_validator("cpu", "memory", "storage")(_check_quantity)

    def as_resources(self) -> Resources:
        """The quota's CPU, memory and GPUs as ``Resources``."""
        return Resources(cpu=self.cpu, memory=self.memory, gpus=self.gpus)


class LimitRangeConfig(Strict):
    """``kubeai:limitRange``: per-container defaults and maximum."""

    default_request: Resources = Field(
        default_factory=lambda: Resources(cpu="250m", memory="512Mi")
    )
    default_limit: Resources = Field(default_factory=lambda: Resources(cpu="2", memory="4Gi"))
    max: Resources | None = None

    @model_validator(mode="after")
    def _order(self) -> LimitRangeConfig:
        if over := _exceeds(self.default_request, self.default_limit):
            raise ValueError(f"defaultRequest exceeds defaultLimit: {', '.join(over)}")
        if self.max and (over := _exceeds(self.default_limit, self.max)):
            raise ValueError(f"defaultLimit exceeds max: {', '.join(over)}")
        return self


class DatasetMount(Strict):
    """One source of a Fluid Dataset: ``s3://``, ``oss://``, ``gs://``, ``pvc://``, ``local://``."""

    name: Name
    mount_point: str = Field(pattern=r"^(s3|oss|gs|pvc|local|https?)://[^\s]+$")
    read_only: bool = True

    @field_validator("mount_point")
    @classmethod
    def _no_escape(cls, value: str) -> str:
        if "/../" in value or value.endswith("/.."):
            raise ValueError("mountPoint must not contain '..'")
        return value


class DatasetRuntime(Strict):
    """The Fluid runtime that binds the Dataset (same name), e.g. AlluxioRuntime."""

    kind: Literal["alluxio", "juicefs", "jindo", "thin"] = "alluxio"
    replicas: int = Field(default=1, ge=1, le=100)
    medium: Literal["MEM", "SSD", "HDD"] = "MEM"
    cache_path: str = Field(
        default="/dev/shm",  # noqa: S108 - the node's tmpfs, the usual MEM tier
        pattern=r"^/[A-Za-z0-9._/-]*$",
    )
    cache_quota: Quantity = "2Gi"

    _q = field_validator("cache_quota")(_check_quantity)


class DatasetConfig(Strict):
    """A Fluid Dataset (+ runtime) in the team namespace; pods mount it as PVC ``<name>``."""

    name: Name
    mounts: list[DatasetMount] = Field(min_length=1, max_length=16)
    runtime: DatasetRuntime = Field(default_factory=DatasetRuntime)


class Autoscaling(Strict):
    """HPA of an inference service (CPU utilisation target)."""

    enabled: bool = False
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=3, ge=1, le=1000)
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)

    @model_validator(mode="after")
    def _order(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must be <= maxReplicas")
        return self


class InferenceServiceConfig(Strict):
    """An inference service: a release of charts/triton-inference bound to a registry service.

    Pulumi owns the infrastructure (replicas, resources, GPUs); the registry owns which model
    versions it serves: the initial ``alias`` is recorded only when the service is created.
    """

    name: Name
    model: Name
    alias: Annotated[
        str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    ] = "production"
    replicas: int = Field(default=1, ge=0, le=1000)
    gpus: int = Field(default=0, ge=0, le=16)
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    tolerations: list[Toleration] | None = None
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)

    _q = field_validator("cpu", "memory")(_check_quantity)

    @property
    def max_replicas(self) -> int:
        """Most replicas it can run (HPA max when autoscaling)."""
        return self.autoscaling.max_replicas if self.autoscaling.enabled else self.replicas

    @property
    def effective_tolerations(self) -> list[Toleration]:
        """Its tolerations: the GPU taint's by default when it requests GPUs."""
        if self.tolerations is not None:
            return list(self.tolerations)
        return [GPU_TOLERATION] if self.gpus else []


class TeamConfig(Strict):
    """A team stack's configuration."""

    stack_kind: Literal["team"]
    platform_stack: str = Field(pattern=r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")
    team: Team
    queue: Queue
    quota: Quota
    limit_range: LimitRangeConfig = Field(default_factory=LimitRangeConfig)
    datasets: list[DatasetConfig] = Field(default_factory=list, max_length=100)
    inference_services: list[InferenceServiceConfig] = Field(default_factory=list, max_length=100)

    def check_against_platform(self, platform: PlatformOutputs) -> None:
        """Cross-stack checks with the platform stack's outputs; raises ``ConfigError``."""
        problems: list[tuple[str, str]] = []
        supply = sum(platform.gpu_capacity.values())
        if self.quota.gpus > supply:
            problems.append(
                (
                    f"{NAMESPACE}:quota.gpus",
                    f"team {self.team.name!r} asks for {self.quota.gpus} GPUs but the pools of "
                    f"platform stack {self.platform_stack!r} hold at most {supply} "
                    f"({platform.gpu_capacity or 'no GPU pools'})",
                )
            )
        if self.datasets and not platform.fluid_enabled:
            problems.append((f"{NAMESPACE}:datasets", "Fluid is disabled on the platform stack"))
        if problems:
            raise ConfigError(problems)


class PlatformOutputs(BaseModel):
    """What a platform stack exports for its team stacks (read through a StackReference)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    environment: str
    provider: str
    gpu_capacity: dict[str, int]
    gpu_pools: list[str]
    fluid_enabled: bool
    volcano_enabled: bool
    argo_enabled: bool
    team_label: str
    registry_url: str
    glue_image: str
    triton_image: str
    triton_image_pull_secret: str | None
    artifact_store: dict[str, Any]


def platform_outputs(
    config: PlatformConfig, *, glue_namespace: str = "kubeai-system"
) -> PlatformOutputs:
    """The outputs a platform stack exports, computed from its configuration alone.

    Used by the platform program (``pulumi.export``) and by the offline render of team stacks,
    so both see the same values.
    """
    return PlatformOutputs(
        environment=config.environment,
        provider=config.cluster.provider,
        gpu_capacity=config.gpu_capacity,
        gpu_pools=[p.name for p in config.node_pools if p.is_gpu],
        fluid_enabled=config.addons.fluid.enabled,
        volcano_enabled=config.addons.volcano.enabled,
        argo_enabled=config.addons.argo.enabled,
        team_label=config.team_label,
        registry_url=f"http://kubeai-registry.{glue_namespace}.svc:8080",
        glue_image=f"{config.glue.image.repository}:{config.glue.image.tag}",
        triton_image=config.triton.image,
        triton_image_pull_secret=config.triton.image_pull_secret,
        artifact_store=config.artifact_store.model_dump(by_alias=True, exclude_none=True),
    )


# ---------------------------------------------------------------------------------------------
# loading


def _suggest(key: str, valid: list[str]) -> str:
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    if not close:
        prefix = [v for v in valid if len(key) >= 3 and v.lower().startswith(key.lower()[:3])]
        close = [prefix[0].lower()] if len(prefix) == 1 else []
    return (
        f"; did you mean {lowered[close[0]]!r}?"
        if close
        else f"; valid keys: {', '.join(sorted(valid))}"
    )


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class found by walking field aliases along ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (f for name, f in current.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return f"{NAMESPACE}:{out}" if out else f"{NAMESPACE}:"


def _problems(model: type[BaseModel], error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = (
                [f.alias or n for n, f in parent.model_fields.items()] if parent is not None else []
            )
            problems.append((_path(loc), "unknown key" + _suggest(str(loc[-1]), valid)))
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append((_path(loc), message))
    return problems


SECRET_KEYS = frozenset(
    {"postgresDsn", "artifactStoreAccessKeyId", "artifactStoreSecretAccessKey", "nvcrApiKey"}
)


def split_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Stack-file ``config:`` mapping -> (plain values by key without namespace, secret keys).

    Keys of other namespaces (``aws:region``, ``kubernetes:context``) are left to their
    providers. A known secret key given as plain text is an error: set it with
    ``pulumi config set --secret``. Raises ``ConfigError``.
    """
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    problems: list[tuple[str, str]] = []
    for full_key, value in raw.items():
        namespace, sep, key = str(full_key).partition(":")
        if not sep:
            problems.append((str(full_key), "config keys are written 'namespace:key'"))
            continue
        if namespace != NAMESPACE:
            continue
        if key in SECRET_KEYS:
            if not (isinstance(value, dict) and set(value) == {"secure"}):
                problems.append(
                    (
                        f"{NAMESPACE}:{key}",
                        f"is a secret: set it with `pulumi config set --secret {NAMESPACE}:{key}`",
                    )
                )
            secrets.add(key)
            continue
        values[key] = value
    if problems:
        raise ConfigError(problems)
    return values, secrets


def _platform_checks(config: PlatformConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    names = [p.name for p in config.node_pools]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(
                (f"{NAMESPACE}:nodePools[{index}].name", f"duplicate pool name {name!r}")
            )
    if config.gpu_mode in ("devicePlugin", "gpuOperator"):
        for index, pool in enumerate(config.node_pools):
            missing = untolerated(pool.effective_taints, config.addons.gpu.tolerations)
            if pool.is_gpu and missing:
                problems.append(
                    (
                        f"{NAMESPACE}:addons.gpu.tolerations",
                        f"no toleration for the taint {missing[0].key}={missing[0].value}:"
                        f"{missing[0].effect} of GPU pool {pool.name!r} (nodePools[{index}]): the "
                        "device plugin would never run on its nodes",
                    )
                )
    return problems


def _team_checks(config: TeamConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if over := _exceeds(config.queue.capability, config.quota.as_resources()):
        problems.append(
            (
                f"{NAMESPACE}:quota",
                "the namespace ResourceQuota must be >= the queue capability "
                f"(kubeai:queue.capability) so gangs are never cut: {', '.join(over)}",
            )
        )
    for key, items in (
        ("datasets", config.datasets),
        ("inferenceServices", config.inference_services),
    ):
        names = [i.name for i in items]
        for index, name in enumerate(names):
            if names.index(name) != index:
                problems.append((f"{NAMESPACE}:{key}[{index}].name", f"duplicate name {name!r}"))
    gpus = sum(s.gpus * s.max_replicas for s in config.inference_services)
    if gpus > config.quota.gpus:
        problems.append(
            (
                f"{NAMESPACE}:quota.gpus",
                f"inferenceServices need up to {gpus} GPUs (gpus x max replicas) but the quota "
                f"allows {config.quota.gpus}",
            )
        )
    gpu_taint = Taint(key=GPU_TAINT_KEY, value="present")
    for index, service in enumerate(config.inference_services):
        if service.gpus and untolerated([gpu_taint], service.effective_tolerations):
            problems.append(
                (
                    f"{NAMESPACE}:inferenceServices[{index}].tolerations",
                    f"service {service.name!r} requests GPUs but does not tolerate the GPU pool "
                    f"taint {GPU_TAINT_KEY}=present:NoSchedule",
                )
            )
    return problems


def parse_config(values: dict[str, Any]) -> PlatformConfig | TeamConfig:
    """Validate plain ``kubeai`` values (keys without namespace) into a stack config.

    Raises ``ConfigError`` with every problem's full key path.
    """
    kind = values.get("stackKind")
    model: type[PlatformConfig] | type[TeamConfig]
    if kind == "platform":
        model = PlatformConfig
    elif kind == "team":
        model = TeamConfig
    else:
        raise ConfigError(
            [(f"{NAMESPACE}:stackKind", f"must be 'platform' or 'team', got {kind!r}")]
        )
    try:
        config = model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_problems(model, exc)) from None
    problems = (
        _platform_checks(config) if isinstance(config, PlatformConfig) else _team_checks(config)
    )
    if problems:
        raise ConfigError(problems)
    return config
