"""A platform stack's configuration (``kubeai:stackKind: platform``).

One per cluster/environment: the cluster and its node pools, add-ons, the Triton serving defaults,
the glue services (model registry) and the platform's artifact store. ``platform_problems`` holds
the checks that span several keys (pool names, GPU tolerations, what a provider can provision).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from infra.config.controller import LifecycleController, controller_problems
from infra.config.identity import ServiceAccountConfig, identity_problems
from infra.config.images import ImageSettings
from infra.config.network import PlatformNetwork
from infra.config.registry_auth import RegistryAuth
from infra.config.shared import (
    GPU_PRESENT_LABEL,
    GPU_TAINT_KEY,
    GPU_TOLERATION,
    GPU_TYPE_LABEL,
    NAMESPACE,
    POOL_LABEL,
    ArtifactStore,
    ChartSource,
    LabelKey,
    LabelValue,
    Name,
    Quantity,
    Resources,
    Strict,
    Taint,
    Toleration,
    check_quantity,
    untolerated,
)
from infra.versions import CLUSTER_AUTOSCALER_IMAGE_TAGS


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


class AckNodeLogin(Strict):
    """``kubeai:cluster.ack.nodeLogin``: how ACK node pools log in to their nodes (the provider
    requires one of ``key_name``, ``password``, ``kms_encrypted_password`` on
    ``alicloud.cs.NodePool``).

    ``method``: ``keyPair`` (an existing ECS key pair, ``keyName``), ``password`` (the Pulumi
    secret ``kubeai:ackNodePassword``) or ``kmsEncryptedPassword`` (the Pulumi secret
    ``kubeai:ackNodeKmsEncryptedPassword``, a KMS ciphertext, with the optional plain
    ``kmsEncryptionContext`` it was encrypted with). Passwords are never plain config.
    """

    method: Literal["keyPair", "password", "kmsEncryptedPassword"]
    key_name: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9._:-]{1,127}$")
    kms_encryption_context: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)],
        Annotated[str, StringConstraints(max_length=256)],
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_method(self) -> AckNodeLogin:
        if self.method == "keyPair" and not self.key_name:
            raise ValueError("method keyPair needs keyName (an ECS key pair in the region)")
        if self.method != "keyPair" and self.key_name:
            raise ValueError(f"keyName belongs to method keyPair, not {self.method}")
        if self.method != "kmsEncryptedPassword" and self.kms_encryption_context:
            raise ValueError("kmsEncryptionContext belongs to method kmsEncryptedPassword")
        return self

    @property
    def secret_key(self) -> str | None:
        """The Pulumi secret (key without namespace) this method reads, None for a key pair."""
        return ACK_LOGIN_SECRETS.get(self.method)


#: Pulumi secret holding the node login of each password-type ``AckNodeLogin.method``.
ACK_LOGIN_SECRETS = {
    "password": "ackNodePassword",
    "kmsEncryptedPassword": "ackNodeKmsEncryptedPassword",
}


class AckCluster(Strict):
    """An existing Alibaba Cloud ACK cluster; we add node pools (pulumi_alicloud.cs.NodePool).

    ``nodeLogin`` (required): the nodes' login method (``AckNodeLogin``).
    """

    cluster_id: str = Field(pattern=r"^c[0-9a-z]{20,40}$")
    region: str = Field(pattern=r"^[a-z]{2}-[a-z0-9-]+$")
    vswitch_ids: list[Annotated[str, StringConstraints(pattern=r"^vsw-[0-9a-z]+$")]] = Field(
        min_length=1
    )
    node_login: AckNodeLogin


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


#: Node labels the platform sets on every pool's nodes (``NodePool.effective_labels``), refused
#: in ``nodePools[].labels``, each with what it carries.
RESERVED_POOL_LABELS = {
    POOL_LABEL: "the pool's name",
    GPU_PRESENT_LABEL: "true on GPU pools, where NVIDIA's device plugin runs",
    GPU_TYPE_LABEL: "the gpuType of GPU pools",
}


class NodePool(Strict):
    """A GPU (or CPU) node pool: one shape over every provider.

    ``gpusPerNode`` 0 makes a CPU pool. GPU pools get the label ``nvidia.com/gpu.present=true``
    and, unless ``taints`` is given, the taint ``nvidia.com/gpu=present:NoSchedule``.
    ``allocatable`` (``cpu``, ``memory``): what one node offers pods after the kubelet's and the
    system's reservations (``kubectl get node -o jsonpath='{.status.allocatable}'``); team
    stacks refuse a replica larger than that. Unset: only GPUs per node are checked.
    ``labels`` may not set the labels the platform sets (``RESERVED_POOL_LABELS``).
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
    allocatable: Resources | None = None

    @field_validator("labels")
    @classmethod
    def _unreserved(cls, labels: dict[str, str]) -> dict[str, str]:
        if reserved := [
            f"{k!r} ({RESERVED_POOL_LABELS[k]})" for k in labels if k in RESERVED_POOL_LABELS
        ]:
            raise ValueError(
                f"{', '.join(reserved)}: labels the platform sets on the pool's nodes itself, "
                "which the placement checks and node selectors rely on; drop them"
            )
        return labels

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} must be <= maxSize {self.max_size}")
        if self.gpus_per_node and not self.gpu_type:
            raise ValueError("a GPU pool (gpusPerNode > 0) needs gpuType, e.g. nvidia-a10")
        if self.allocatable is not None and self.allocatable.gpus is not None:
            raise ValueError("allocatable takes cpu and memory; GPUs per node are gpusPerNode")
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
        labels = {POOL_LABEL: self.name, **self.labels}
        if self.is_gpu:
            labels[GPU_PRESENT_LABEL] = "true"
            labels[GPU_TYPE_LABEL] = self.gpu_type
        return labels

    @property
    def max_gpus(self) -> int:
        """GPUs the pool can supply at its maximum size."""
        return self.max_size * self.gpus_per_node


def chart_values() -> Any:
    """The ``values`` field of an add-on installed from a Helm chart
    (``kubeai:addons.<addon>.values``): Helm values deep-merged over the ones the program computes
    (mappings merge, lists and scalars replace), checked against the chart before any resource
    exists (``infra.addons.values``: keys the program keeps, unknown top-level keys, the chart's
    ``values.schema.json``). Default: none."""
    return Field(default_factory=dict)


#: Which Volcano plugin turns team Queues into shares (``kubeai:addons.volcano.queuePolicy``).
QueuePolicy = Literal["proportion", "capacity"]


class VolcanoAddon(Strict):
    """Volcano batch scheduler (gang, priority, drf, the queue plugin; preempt and reclaim).

    ``queuePolicy`` picks the one plugin that reads the team Queues (Volcano v1.15.1,
    ``pkg/scheduler/plugins/<name>/<name>.go``; the two conflict, the scheduler runs one):

    * ``proportion`` (default): a queue's share is the cluster divided by ``weight`` among the
      queues with demand, capped by ``capability`` and raised to ``guarantee``. It never reads
      ``deserved``. Shares follow the cluster as autoscaled pools grow and shrink, and teams need
      no absolute numbers that must add up to the cluster.
    * ``capacity``: a queue's share is its ``deserved``, capped by ``capability``, at least
      ``guarantee``; it never reads ``weight``.

    Team stacks are refused a Queue key the chosen plugin never reads (``Queue.policy_problems``).
    """

    enabled: bool = True
    queue_policy: QueuePolicy = "proportion"
    scheduler_replicas: int = Field(default=1, ge=1, le=5)
    controller_replicas: int = Field(default=1, ge=1, le=5)
    chart: ChartSource = Field(default_factory=ChartSource)
    values: dict[str, Any] = chart_values()


FluidEngine = Literal["alluxio", "jindo", "juicefs", "thin", "goosefs", "efc", "vineyard"]
_DEFAULT_ENGINES: tuple[FluidEngine, ...] = ("alluxio", "juicefs")


class FluidAddon(Strict):
    """Fluid dataset caching; ``runtimes`` are kept running from the start."""

    enabled: bool = True
    runtimes: list[FluidEngine] = Field(default_factory=lambda: list(_DEFAULT_ENGINES))
    chart: ChartSource = Field(default_factory=ChartSource)
    values: dict[str, Any] = chart_values()


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


class ClusterAutoscalerAddon(Strict):
    """``kubeai:addons.clusterAutoscaler``: node autoscaling, so pools with ``minSize: 0`` (GPU
    pools) grow when pods wait for them (``infra.addons.autoscaling``).

    EKS: the upstream cluster-autoscaler (``roleArn``: the IAM role of its ServiceAccount, IRSA,
    required); ACK: the managed autoscaler's settings; GKE: node-pool autoscaling is GKE's own
    (every pool is created with it), nothing to install; existing clusters: nothing.
    ``expander`` picks the pool to grow (ACK offers least-waste, random and priority);
    ``scaleDownUnneededMinutes``: how long a node stays unneeded before it is removed.
    """

    enabled: bool = True
    role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
    )
    expander: Literal["least-waste", "priority", "random", "most-pods", "price"] = "least-waste"
    scale_down_unneeded_minutes: int = Field(default=10, ge=1, le=1440)
    chart: ChartSource = Field(default_factory=ChartSource)
    values: dict[str, Any] = chart_values()


class MetricsServerAddon(Strict):
    """``kubeai:addons.metricsServer``: the resource metrics API HorizontalPodAutoscalers read.

    ``enabled`` unset: installed where the cloud does not run one itself (EKS; GKE and ACK
    clusters come with metrics-server, existing clusters are assumed to have theirs).
    """

    enabled: bool | None = None
    chart: ChartSource = Field(default_factory=ChartSource)
    values: dict[str, Any] = chart_values()


class GpuAddon(Strict):
    """GPU enablement: ``auto`` = device plugin where nodes bring none (EKS, existing), none on
    GKE/ACK (their GPU nodes run one); or force ``devicePlugin``, ``gpuOperator``, ``none``.

    On GKE only ``auto``/``none`` are accepted (``platform_problems``): our GKE pools get GKE's
    managed driver and GKE's device plugin (``infra.node_pools.gke``), so a second device plugin
    would advertise ``nvidia.com/gpu`` twice on every GPU node.
    """

    mode: Literal["auto", "devicePlugin", "gpuOperator", "none"] = "auto"
    tolerations: list[Toleration] = Field(default_factory=lambda: [GPU_TOLERATION])
    chart: ChartSource = Field(default_factory=ChartSource)
    values: dict[str, Any] = chart_values()


class TritonServingConfig(Strict):
    """Platform defaults of the Triton serving layer used by every inference service."""

    image: str = Field(
        default="nvcr.io/nvidia/tritonserver:26.07-py3",
        pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$",
    )
    image_pull_secret: Name | None = "nvcr-pull"  # noqa: S105 - a Secret object name
    model_repository_size: Quantity = "10Gi"
    poll_interval_seconds: float = Field(default=5.0, ge=0.5, le=600)

    _q = field_validator("model_repository_size")(check_quantity)

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
    """The glue services: image and the registry's database.

    ``serviceAccount``: the registry's ServiceAccount, its cloud identity
    (``workloadIdentity``: IRSA, Workload Identity, or RRSA, which ``glue.artifacts.rrsa``
    exchanges for STS keys) and extra annotations, so the registry reads
    the artifact store without static keys. ``imagePullSecrets``: names of
    ``kubernetes.io/dockerconfigjson`` Secrets in the glue namespace (``kubeai-system``) used to
    pull the glue image (from a private registry or mirror); they are exported to team stacks,
    whose serving agents run the same image (``PlatformOutputs.glue_image_pull_secrets``).
    ``auth``: who may call the registry (``infra.config.registry_auth``; default TokenReview).
    ``controller``: the lifecycle controller beside the registry (``infra.config.controller``).
    """

    image: GlueImage
    database: Literal["sqlite", "postgresql"] = "sqlite"
    storage_size: Quantity = "5Gi"
    storage_class: Name | None = None
    replicas: int = Field(default=1, ge=1, le=10)
    service_account: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)
    image_pull_secrets: list[Name] = Field(default_factory=list, max_length=10)
    auth: RegistryAuth = Field(default_factory=RegistryAuth)
    controller: LifecycleController = Field(default_factory=LifecycleController)

    _q = field_validator("storage_size")(check_quantity)

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
    cluster_autoscaler: ClusterAutoscalerAddon = Field(default_factory=ClusterAutoscalerAddon)
    metrics_server: MetricsServerAddon = Field(default_factory=MetricsServerAddon)


class PlatformConfig(Strict):
    """A platform stack's configuration."""

    stack_kind: Literal["platform"]
    environment: Name
    cluster: Cluster
    node_pools: list[NodePool] = Field(default_factory=list, max_length=50)
    addons: Addons = Field(default_factory=Addons)
    triton: TritonServingConfig = Field(default_factory=TritonServingConfig)
    glue: GlueServices
    artifact_store: ArtifactStore
    #: Label on team namespaces that the Argo controller and glue services watch.
    team_label: LabelKey = "kubeai.dev/team"
    #: Who may reach the registry and the teams' services (``infra.config.network``).
    network: PlatformNetwork = Field(default_factory=PlatformNetwork)
    #: Registry mirror and pull secrets of every image (``infra.config.images``).
    images: ImageSettings = Field(default_factory=ImageSettings)

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
    def metrics_server_enabled(self) -> bool:
        """Whether the platform installs metrics-server (``auto``: on EKS only)."""
        enabled = self.addons.metrics_server.enabled
        return self.cluster.provider == "eks" if enabled is None else enabled

    @property
    def gpu_capacity(self) -> dict[str, int]:
        """GPUs the pools can supply at maximum size, by GPU type (``{"nvidia-a10": 16}``)."""
        out: dict[str, int] = {}
        for pool in self.node_pools:
            if pool.is_gpu:
                out[pool.gpu_type] = out.get(pool.gpu_type, 0) + pool.max_gpus
        return out


def platform_problems(config: PlatformConfig) -> list[tuple[str, str]]:
    """Checks spanning several keys of a platform stack: ``[(key path, message)]``."""
    problems: list[tuple[str, str]] = []
    names = [p.name for p in config.node_pools]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(
                (f"{NAMESPACE}:nodePools[{index}].name", f"duplicate pool name {name!r}")
            )
    provider = config.cluster.provider
    for index, pool in enumerate(config.node_pools):
        where = f"{NAMESPACE}:nodePools[{index}]"
        if provider != "existing" and pool.max_size < 1:
            problems.append(
                (
                    f"{where}.maxSize",
                    f"must be >= 1 for pool {pool.name!r} provisioned on {provider} (only "
                    "existing clusters describe pools that may be empty)",
                )
            )
        if provider == "gke" and pool.is_gpu and not pool.gpu_type.startswith("nvidia-"):
            problems.append(
                (
                    f"{where}.gpuType",
                    "must be a GKE accelerator type such as nvidia-l4 or nvidia-tesla-t4, got "
                    f"{pool.gpu_type!r}",
                )
            )
    problems += autoscaler_problems(config)
    problems += controller_problems(config.glue.controller, config.glue.auth.kubernetes.enabled)
    if provider == "gke" and config.addons.gpu.mode in ("devicePlugin", "gpuOperator"):
        problems.append(
            (
                f"{NAMESPACE}:addons.gpu.mode",
                f"{config.addons.gpu.mode} is refused on gke: GKE installs the NVIDIA driver and "
                "runs its own device plugin on every GPU node of our pools (driver version "
                "DEFAULT, no gke-no-default-nvidia-gpu-device-plugin label), so a second device "
                "plugin would advertise nvidia.com/gpu twice. NVIDIA's GKE recipe for the GPU "
                "Operator needs pools created without GKE's driver and device plugin plus a "
                "driver installed outside GKE, which this platform does not provision; use "
                "auto (or none): GKE's own driver and device plugin",
            )
        )
    glue_account = config.glue.service_account
    problems += identity_problems(glue_account, provider, "glue.serviceAccount")
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


#: Expanders ACK's managed autoscaler offers (``alicloud.cs.AutoscalingConfig.expander``).
ACK_EXPANDERS = ("least-waste", "random", "priority")
#: Expanders cluster-autoscaler's AWS provider cannot serve (``price`` needs ``Pricing()``).
EKS_UNSUPPORTED_EXPANDERS = ("price",)


def autoscaler_problems(config: PlatformConfig) -> list[tuple[str, str]]:
    """``kubeai:addons.clusterAutoscaler`` and ``metricsServer`` checks against the provider.

    Nothing is accepted that nothing reads: the autoscaler's settings only where the platform
    configures an autoscaler (EKS, ACK), ``enabled: false`` only where a pool could then never
    grow is not the case, ``metricsServer.enabled: true`` not where the cloud runs its own.
    """
    scaler = config.addons.cluster_autoscaler
    where = f"{NAMESPACE}:addons.clusterAutoscaler"
    provider = config.cluster.provider
    problems: list[tuple[str, str]] = []
    if config.addons.metrics_server.enabled and provider in ("gke", "ack"):
        problems.append(
            (
                f"{NAMESPACE}:addons.metricsServer.enabled",
                f"{provider} clusters run their own metrics-server (the v1beta1.metrics.k8s.io "
                "APIService); a second one would fight over it: leave it unset",
            )
        )
    if provider in ("gke", "existing"):
        given = scaler.model_dump(exclude_unset=True, by_alias=True)
        for key in sorted(set(given) - {"values"}):
            reader = (
                "GKE's own autoscaler serves every pool (node-pool autoscaling between minSize "
                "and maxSize; equal sizes for a fixed pool)"
                if provider == "gke"
                else "an existing cluster's owner runs its autoscaling"
            )
            problems.append((f"{where}.{key}", f"nothing reads it on {provider}: {reader}"))
        return problems
    if not scaler.enabled:
        empty = [p.name for p in config.node_pools if p.min_size == 0]
        if empty:
            problems.append(
                (
                    f"{where}.enabled",
                    f"pool(s) {', '.join(empty)} have minSize 0 and nothing would ever add a "
                    "node to them: keep the autoscaler or give them minSize >= 1",
                )
            )
        return problems
    if provider == "ack":
        if scaler.expander not in ACK_EXPANDERS:
            problems.append(
                (
                    f"{where}.expander",
                    f"ACK's autoscaler offers {', '.join(ACK_EXPANDERS)}, got {scaler.expander!r}",
                )
            )
        return problems
    if scaler.expander in EKS_UNSUPPORTED_EXPANDERS:
        problems.append(
            (
                f"{where}.expander",
                f"{scaler.expander!r} needs the cloud provider's pricing model, which "
                "cluster-autoscaler's AWS provider does not implement (Pricing() returns "
                "ErrNotImplemented): the autoscaler would not start; use least-waste, "
                "most-pods, priority or random",
            )
        )
    if not scaler.role_arn:
        problems.append(
            (
                f"{where}.roleArn",
                "required on EKS: the IAM role (IRSA) the cluster-autoscaler runs as, allowed "
                "autoscaling:Describe*, SetDesiredCapacity, TerminateInstanceInAutoScalingGroup, "
                "ec2:DescribeLaunchTemplateVersions/InstanceTypes and eks:DescribeNodegroup; or "
                "set enabled: false",
            )
        )
    minor = config.cluster.kubernetes_version
    if minor not in CLUSTER_AUTOSCALER_IMAGE_TAGS:
        problems.append(
            (
                f"{NAMESPACE}:cluster.kubernetesVersion",
                f"no pinned cluster-autoscaler for Kubernetes {minor} (pinned: "
                f"{', '.join(sorted(CLUSTER_AUTOSCALER_IMAGE_TAGS))}); the autoscaler's minor "
                "must match the cluster's",
            )
        )
    return problems
