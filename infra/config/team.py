"""A team stack's configuration (``kubeai:stackKind: team``).

One per team and environment: namespace, Volcano queue, quota, limit range, datasets and
inference services. It names its platform stack (``kubeai:platformStack``) and is checked against
that stack's outputs (``TeamConfig.check_against_platform``). ``team_problems`` holds the checks
that span several keys. Every container the team stack renders gets explicit requests and limits
from here (``InferenceServiceConfig.triton_resources``, ``AGENT_RESOURCES``,
``DatasetRuntime.containers``); ``infra.config.fit`` checks them against the namespaces'
admission and the platform's nodes.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from infra.config.identity import (
    ARGO_READER,
    ServiceAccountConfig,
    identity_problems,
    rrsa_problems,
)
from infra.config.network import TeamNetwork
from infra.config.outputs import PlatformOutputs
from infra.config.pipelines import Pipelines
from infra.config.platform import QueuePolicy
from infra.config.shared import (
    GPU_TAINT_KEY,
    GPU_TOLERATION,
    GPU_TYPE_LABEL,
    NAMESPACE,
    ConfigError,
    ContainerResources,
    LabelKey,
    LabelValue,
    Name,
    Quantity,
    Resources,
    Strict,
    Taint,
    Toleration,
    check_quantity,
    exceeds,
    untolerated,
)
from infra.quantity import parse_quantity


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


#: Namespaces no team may be named after (the team's name is its Namespace's): Kubernetes' own
#: and the ones the platform stack creates (``tests/infra/config/test_team.py`` checks the
#: platform program creates no other). Server-side apply adopts an existing object, so a team
#: stack named after one of them would take it over and, on destroy, delete it.
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "volcano-system",
        "fluid-system",
        "argo",
        "kubeflow",
        "nvidia-device-plugin",
        "gpu-operator",
    }
)
#: Name prefixes reserved too: ``kube-`` by Kubernetes (kube-system, kube-public,
#: kube-node-lease), ``kubeai-`` by the platform (kubeai-system, the per-team
#: ``kubeai-cache-<team>`` Fluid namespaces).
RESERVED_PREFIXES = ("kube-", "kubeai-")


class Team(Strict):
    """``kubeai:team``. ``name`` is also the team's Namespace: not a reserved one
    (``RESERVED_NAMESPACES``, ``RESERVED_PREFIXES``)."""

    name: Name
    groups: TeamGroups = Field(default_factory=TeamGroups)
    pod_security: Literal["restricted", "baseline", "privileged"] = "baseline"

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in RESERVED_NAMESPACES or name.startswith(RESERVED_PREFIXES):
            owner = (
                "Kubernetes" if name.startswith("kube-") or name == "default" else "the platform"
            )
            reserved = ", ".join(sorted(RESERVED_NAMESPACES))
            prefixes = " or ".join(RESERVED_PREFIXES)
            raise ValueError(
                f"{name!r} is a namespace of {owner} (reserved: {reserved} and names starting "
                f"with {prefixes}); the team's name is its namespace, choose another"
            )
        return name


#: Quantity syntax of the Queue CRD's ``capability``/``deserved``/``guarantee.resource`` values
#: (``scheduling.volcano.sh_queues.yaml`` at Volcano v1.15.1), minus the signs: the apiserver
#: refuses any other spelling, Volcano's queue webhook any negative amount.
QUEUE_QUANTITY = re.compile(
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


class Queue(Strict):
    """``kubeai:queue``: the team's Volcano Queue (scheduling.volcano.sh/v1beta1).

    What each key means depends on the platform's ``kubeai:addons.volcano.queuePolicy`` (the one
    Volcano plugin that reads Queues, ``VolcanoAddon``): under ``proportion`` the queue's share is
    the cluster split by ``weight`` (``deserved`` is refused: that plugin never reads it); under
    ``capacity`` it is ``deserved`` (``weight`` other than 1 is refused). Both cap a queue at
    ``capability``, reserve ``guarantee`` for it and order queues by ``priority``; the reclaim
    action takes back only from ``reclaimable`` queues. ``Queue.policy_problems`` holds the
    platform-dependent checks.

    Checked here, as Volcano v1.15.1 would refuse or misread it: ``guarantee`` <= ``capability``
    per resource (the queue webhook, ``pkg/webhooks/admission/queues/validate``; ``guarantee`` <=
    ``deserved`` <= ``capability`` only where ``deserved`` is read, in ``policy_problems``: under
    ``proportion`` the first problem of a ``deserved`` is that nothing reads it); ``weight``
    1..65535 and ``priority`` >= 0 (the CRD); quantities in the CRD's syntax; a ``capability``
    that names at least one resource and no zero CPU or memory (both plugins read
    an empty capability, and a CPU or memory capability <= 0, as unlimited).
    """

    weight: int = Field(default=1, ge=1, le=65_535)
    capability: Resources
    deserved: Resources | None = None
    guarantee: Resources | None = None
    reclaimable: bool = True
    priority: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("capability", "deserved", "guarantee")
    @classmethod
    def _crd_quantities(cls, resources: Resources | None) -> Resources | None:
        for name in ("cpu", "memory"):
            value = getattr(resources, name) if resources else None
            if value is not None and not QUEUE_QUANTITY.match(value):
                raise ValueError(
                    f"{name} {value!r} is no quantity the Queue CRD admits (no spaces; e.g. "
                    "500m, 4, 1.5, 256Gi, 1e3)"
                )
        return resources

    @field_validator("capability")
    @classmethod
    def _capability_limits(cls, capability: Resources) -> Resources:
        if not capability.as_resource_list():
            raise ValueError(
                "names no resource: Volcano reads an empty capability as unlimited; set cpu, "
                "memory and/or gpus"
            )
        for name in ("cpu", "memory"):
            value = getattr(capability, name)
            if value is not None and parse_quantity(value) == 0:
                raise ValueError(
                    f"{name} is 0, which Volcano's proportion and capacity plugins read as "
                    "unlimited; leave it out for no limit or set the real limit"
                )
        return capability

    @model_validator(mode="after")
    def _ordering(self) -> Queue:
        if self.guarantee and (over := exceeds(self.guarantee, self.capability, "capability")):
            raise ValueError(f"guarantee exceeds capability: {', '.join(over)}")
        return self

    def policy_problems(self, policy: QueuePolicy, platform_stack: str) -> list[tuple[str, str]]:
        """Keys the platform's queue plugin ``policy`` never reads or its webhook refuses:
        ``[(key path, message)]`` (``platform_stack`` names the platform in messages).

        Where each key is read at Volcano v1.15.1: ``plugins/proportion/proportion.go`` reads
        weight, capability, guarantee and priority, never ``spec.deserved``;
        ``plugins/capacity/capacity.go`` reads deserved, capability, guarantee and priority, never
        ``spec.weight``; ``reclaimable`` is read by the reclaim action (``QueueInfo.Reclaimable``).
        """
        where = (
            f"platform stack {platform_stack!r} runs Volcano's {policy!r} queue plugin "
            f"({NAMESPACE}:addons.volcano.queuePolicy)"
        )
        problems: list[tuple[str, str]] = []
        if policy == "proportion" and self.deserved is not None:
            problems.append(
                (
                    f"{NAMESPACE}:queue.deserved",
                    f"{where}, which never reads a Queue's deserved: it splits the cluster by "
                    "weight (capped by capability, at least guarantee). Drop deserved and set "
                    "weight, or run the capacity plugin on the platform",
                )
            )
        if policy == "capacity" and self.weight != 1:
            problems.append(
                (
                    f"{NAMESPACE}:queue.weight",
                    f"{where}, which never reads a Queue's weight: the share is deserved "
                    "(capped by capability, at least guarantee). Drop weight and set deserved, or "
                    "run the proportion plugin on the platform",
                )
            )
        if policy != "capacity":
            return problems
        deserved = self.deserved or Resources()
        if over := exceeds(deserved, self.capability, "capability"):
            problems.append(
                (
                    f"{NAMESPACE}:queue.deserved",
                    "Volcano's queue webhook refuses a deserved above capability: "
                    f"{', '.join(over)}",
                )
            )
        if self.guarantee is not None and (over := exceeds(self.guarantee, deserved, "deserved")):
            problems.append(
                (
                    f"{NAMESPACE}:queue.deserved",
                    "Volcano's queue webhook refuses a guarantee above deserved (or without "
                    f"deserved) for any resource: {', '.join(over)}",
                )
            )
        return problems


class Quota(Strict):
    """``kubeai:quota``: the namespace ResourceQuota (requests; GPUs as requests.nvidia.com/gpu)."""

    gpus: int = Field(default=0, ge=0, le=100_000)
    cpu: Quantity
    memory: Quantity
    pods: int = Field(default=500, ge=1, le=100_000)
    storage: Quantity = "1Ti"
    persistent_volume_claims: int = Field(default=50, ge=0, le=10_000)

    _q = field_validator("cpu", "memory", "storage")(check_quantity)

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
    min: Resources | None = None

    @model_validator(mode="after")
    def _order(self) -> LimitRangeConfig:
        if over := exceeds(self.default_request, self.default_limit, "defaultLimit"):
            raise ValueError(f"defaultRequest exceeds defaultLimit: {', '.join(over)}")
        if self.max and (over := exceeds(self.default_limit, self.max, "max")):
            raise ValueError(f"defaultLimit exceeds max: {', '.join(over)}")
        if self.min and (over := exceeds(self.min, self.default_request, "defaultRequest")):
            raise ValueError(f"min exceeds defaultRequest: {', '.join(over)}")
        return self


#: A URL with a password in its user info (``redis://:pw@host``, ``mysql://u:pw@host``).
USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]+@")
#: Option names that look like credentials (case-insensitive search): they belong in
#: ``encryptOptions``, whose values Fluid reads from a Secret, never in plain ``options``.
SECRET_OPTION = re.compile(
    r"access[._-]?key|secret|passw(or)?d|token|credential|private[._-]?key|(^|\.)(ak|sk)(\.|$)",
    re.IGNORECASE,
)
#: Secret the team stack creates in the cache namespace from the Pulumi secrets
#: ``kubeai:datasetAccessKeyId``/``datasetAccessKeySecret`` (``DATASET_SECRET_KEYS``), under the
#: keys ``access-key-id``/``access-key-secret``.
DATASET_SECRET = "kubeai-dataset-credentials"  # noqa: S105 - a Secret name
DATASET_SECRET_KEYS = {
    "datasetAccessKeyId": "access-key-id",
    "datasetAccessKeySecret": "access-key-secret",
}
OptionName = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class SecretKeyRef(Strict):
    """A key of a Secret in the dataset's cache namespace (Fluid ``secretKeyRef``)."""

    name: Name
    key: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")
    ]

    @model_validator(mode="after")
    def _known_key(self) -> SecretKeyRef:
        keys = DATASET_SECRET_KEYS.values()
        if self.name == DATASET_SECRET and self.key not in keys:
            raise ValueError(
                f"Secret {DATASET_SECRET} holds the keys {', '.join(keys)}, not {self.key!r}"
            )
        return self


class EncryptOptionSource(Strict):
    """Where an encrypted option's value comes from (Fluid ``valueFrom``)."""

    secret_key_ref: SecretKeyRef


class EncryptOption(Strict):
    """A mount option whose value Fluid reads from a Secret (Fluid ``encryptOptions[]``), e.g.
    ``{name: fs.oss.accessKeySecret, valueFrom: {secretKeyRef: {name: kubeai-dataset-credentials,
    key: access-key-secret}}}``. The Secret must exist in the cache namespace
    (``kubeai-cache-<team>``), where the real Dataset lives: the team stack creates
    ``DATASET_SECRET`` there from Pulumi secrets; any other name must be created there by the
    platform team (teams have no rights in that namespace)."""

    name: OptionName
    value_from: EncryptOptionSource


class DatasetMount(Strict):
    """One source of a Fluid Dataset: ``s3://``, ``oss://``, ``gs://``, ``pvc://``, ``local://``.

    ``options``: plain mount options of the runtime (e.g. ``fs.oss.endpoint`` for Jindo,
    ``alluxio.underfs.s3.endpoint``); names that look like credentials (``SECRET_OPTION``) are
    refused there and go to ``encryptOptions`` (``EncryptOption``), whose values come from a
    Secret. A name may not be in both.
    """

    name: Name
    mount_point: str = Field(pattern=r"^(s3|oss|gs|pvc|local|https?)://[^\s]+$")
    read_only: bool = True
    options: dict[OptionName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict
    )
    encrypt_options: list[EncryptOption] = Field(default_factory=list, max_length=32)

    @field_validator("mount_point")
    @classmethod
    def _no_escape(cls, value: str) -> str:
        if "/../" in value or value.endswith("/.."):
            raise ValueError("mountPoint must not contain '..'")
        return value

    @field_validator("options")
    @classmethod
    def _no_plain_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, option in value.items():
            if USERINFO.search(str(option)):
                raise ValueError(
                    f"option {name!r} carries credentials in a URL (user:password@): give the "
                    "password under encryptOptions (e.g. JuiceFS metaurl with the password in "
                    "a Secret), never as plain config"
                )
            if SECRET_OPTION.search(name):
                raise ValueError(
                    f"option {name!r} looks like a credential: give it under encryptOptions "
                    "(valueFrom.secretKeyRef names a Secret in the cache namespace, e.g. "
                    f"{DATASET_SECRET} created from the Pulumi secrets "
                    "kubeai:datasetAccessKeyId/datasetAccessKeySecret), never as plain config"
                )
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> DatasetMount:
        names = [o.name for o in self.encrypt_options]
        for index, name in enumerate(names):
            if names.index(name) != index:
                raise ValueError(f"encryptOptions names {name!r} twice")
            if name in self.options:
                raise ValueError(f"option {name!r} is in both options and encryptOptions")
        return self


#: Pod components (``spec.<component>.resources``) of each Fluid runtime kind, from the pinned
#: v1.0.8 CRDs: Alluxio's master and worker pods carry a job-master/job-worker container each.
RUNTIME_COMPONENTS: dict[str, tuple[str, ...]] = {
    "alluxio": ("master", "jobMaster", "worker", "jobWorker", "fuse"),
    "jindo": ("master", "worker", "fuse"),
    "juicefs": ("worker", "fuse"),
    "thin": ("worker", "fuse"),
}
#: Resources of every runtime container but the cache worker (masters, job containers, FUSE).
RUNTIME_CONTAINER = ContainerResources(
    requests=Resources(cpu="500m", memory="1Gi"), limits=Resources(cpu="2", memory="4Gi")
)
#: Memory of a cache worker besides a memory (``MEM``) cache tier.
WORKER_BASE_MEMORY = "2Gi"


class DatasetRuntime(Strict):
    """The Fluid runtime that binds the Dataset (same name), e.g. AlluxioRuntime.

    Every runtime container gets explicit requests and limits (``containers``): the cache worker
    1 CPU (limit 2) and ``WORKER_BASE_MEMORY`` plus, for the ``MEM`` medium, ``cacheQuota``
    (memory limit = request: the cache lives in the worker's memory); the others
    ``RUNTIME_CONTAINER``.
    """

    kind: Literal["alluxio", "juicefs", "jindo", "thin"] = "alluxio"
    replicas: int = Field(default=1, ge=1, le=100)
    medium: Literal["MEM", "SSD", "HDD"] = "MEM"
    cache_path: str = Field(
        default="/dev/shm",  # noqa: S108 - the node's tmpfs, the usual MEM tier
        pattern=r"^/[A-Za-z0-9._/-]*$",
    )
    cache_quota: Quantity = "2Gi"

    _q = field_validator("cache_quota")(check_quantity)

    def containers(self) -> dict[str, ContainerResources]:
        """Resources of each runtime component (``RUNTIME_COMPONENTS``), by component."""
        memory = parse_quantity(WORKER_BASE_MEMORY)
        if self.medium == "MEM":
            memory += parse_quantity(self.cache_quota)
        worker_memory = f"{int(memory / 2**20)}Mi"
        worker = ContainerResources(
            requests=Resources(cpu="1", memory=worker_memory),
            limits=Resources(cpu="2", memory=worker_memory),
        )
        return {
            c: worker if c == "worker" else RUNTIME_CONTAINER for c in RUNTIME_COMPONENTS[self.kind]
        }


class DatasetConfig(Strict):
    """A Fluid Dataset of the team; its pods mount it as PVC ``<name>`` in the team namespace.

    ``size`` (required): the data's size, the capacity of the PVCs Fluid creates for it (the
    ``pvc.fluid.io/resources.requests.storage`` annotation; without it Fluid asks 100Pi and the
    team's storage quota refuses the claim). Where the cache runs: ``infra.tenancy``.
    """

    name: Name
    size: Quantity
    mounts: list[DatasetMount] = Field(min_length=1, max_length=16)
    runtime: DatasetRuntime = Field(default_factory=DatasetRuntime)

    @field_validator("size")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_quantity(value) <= 0:
            raise ValueError(f"size must be a positive quantity such as 500Gi, got {value!r}")
        return str(value)


class DatasetCache(Strict):
    """``kubeai:datasetCache``: the namespace the team's Fluid cache pods run in.

    Fluid runs a runtime's FUSE pods privileged and its cache workers with hostPath volumes, in
    the namespace of the Dataset the runtime binds; a team namespace (Pod Security ``baseline``
    or ``restricted``) refuses them. So the cache (Dataset + runtime) lives in this namespace,
    ``kubeai-cache-<team>`` by default, labelled Pod Security ``privileged`` and without team
    RBAC; the team namespace gets a Dataset referencing it (``infra.tenancy``).
    """

    namespace: Name | None = None
    pod_security: Literal["restricted", "baseline", "privileged"] = "privileged"


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
    cpu_limit: Quantity | None = None
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    gpu_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", max_length=63)] | None = (
        None
    )
    tolerations: list[Toleration] | None = None
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    service_account: ServiceAccountConfig | None = None

    _q = field_validator("cpu", "memory", "cpu_limit")(check_quantity)

    @model_validator(mode="after")
    def _limit(self) -> InferenceServiceConfig:
        if self.cpu_limit is not None and parse_quantity(self.cpu_limit) < parse_quantity(self.cpu):
            raise ValueError(f"cpuLimit {self.cpu_limit} must be >= cpu {self.cpu}")
        return self

    def triton_resources(self, limit_range: LimitRangeConfig) -> ContainerResources:
        """Requests and limits of the tritonserver container (GPUs are the chart's ``gpu.count``).

        Memory limit = request (no overcommit: a pod is OOM-killed alone rather than pressing
        its node). CPU limit = ``cpuLimit``, else the larger of the request and the LimitRange's
        default CPU limit (bursts stay allowed, and a request above that default stays valid).
        """
        cpu_limit = self.cpu_limit
        default = limit_range.default_limit.cpu
        if cpu_limit is None:
            larger = default is not None and parse_quantity(default) > parse_quantity(self.cpu)
            cpu_limit = default if larger else self.cpu
        return ContainerResources(
            requests=Resources(cpu=self.cpu, memory=self.memory),
            limits=Resources(cpu=cpu_limit, memory=self.memory),
        )

    @property
    def node_selector_with_gpu_type(self) -> dict[str, str]:
        """Its node selector plus ``kubeai.dev/gpu-type: <gpuType>`` when ``gpuType`` is set."""
        selector = dict(self.node_selector)
        if self.gpu_type:
            selector[GPU_TYPE_LABEL] = self.gpu_type
        return selector

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


#: Resources of the serving agent sidecar of every inference service pod.
AGENT_RESOURCES = ContainerResources(
    requests=Resources(cpu="50m", memory="128Mi"), limits=Resources(cpu="500m", memory="512Mi")
)


class TeamServiceAccounts(Strict):
    """``kubeai:serviceAccounts``: cloud identities and annotations of the team's workloads.

    ``training``: the ServiceAccount ``kubeai-training`` training pods run as (any identity of
    the platform's provider, RRSA included: training code uses the cloud's own SDK).
    ``workflow``: the ServiceAccount ``kubeai-workflow`` Argo workflow pods run as (their
    executor stores artifacts; without static keys Argo uses the SDK's credentials).
    ``serving``: the ServiceAccount of every inference service (its serving agent reads model
    artifacts), unless ``inferenceServices[].serviceAccount`` gives the service its own.
    """

    training: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)
    workflow: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)
    serving: ServiceAccountConfig = Field(default_factory=ServiceAccountConfig)


class TeamConfig(Strict):
    """A team stack's configuration.

    ``imagePullSecrets``: names of ``kubernetes.io/dockerconfigjson`` Secrets in the team
    namespace added to every inference service's pods and to the training and workflow
    ServiceAccounts (``kubeai-training``, ``kubeai-workflow``), besides the platform's (the
    nvcr.io and glue image pull secrets).
    """

    stack_kind: Literal["team"]
    platform_stack: str = Field(pattern=r"^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")
    team: Team
    queue: Queue
    quota: Quota
    limit_range: LimitRangeConfig = Field(default_factory=LimitRangeConfig)
    dataset_cache: DatasetCache = Field(default_factory=DatasetCache)
    datasets: list[DatasetConfig] = Field(default_factory=list, max_length=100)
    inference_services: list[InferenceServiceConfig] = Field(default_factory=list, max_length=100)
    #: Who may call the team's inference services (``infra.config.network``).
    network: TeamNetwork = Field(default_factory=TeamNetwork)
    service_accounts: TeamServiceAccounts = Field(default_factory=TeamServiceAccounts)
    image_pull_secrets: list[Name] = Field(default_factory=list, max_length=10)
    #: The model-iteration pipeline and retraining schedules (``infra.config.pipelines``).
    pipelines: Pipelines = Field(default_factory=Pipelines)

    @property
    def dataset_secrets(self) -> frozenset[str]:
        """The Pulumi secrets its datasets need: ``DATASET_SECRET_KEYS`` when an
        ``encryptOptions`` entry references ``DATASET_SECRET``, else none."""
        refs = {
            option.value_from.secret_key_ref.name
            for dataset in self.datasets
            for mount in dataset.mounts
            for option in mount.encrypt_options
        }
        return frozenset(DATASET_SECRET_KEYS) if DATASET_SECRET in refs else frozenset()

    def serving_account(self, service: InferenceServiceConfig) -> ServiceAccountConfig:
        """ServiceAccount settings of ``service``: its own, else ``serviceAccounts.serving``."""
        return service.service_account or self.service_accounts.serving

    def account_problems(self, provider: str) -> list[tuple[str, str]]:
        """Identities that do not belong to the platform's ``provider``, and RRSA given to the
        workflow pods (``infra.config.identity.rrsa_problems``), as ``[(key path, message)]``."""
        accounts: list[tuple[str, ServiceAccountConfig, str | None]] = [
            ("serviceAccounts.training", self.service_accounts.training, None),
            ("serviceAccounts.workflow", self.service_accounts.workflow, ARGO_READER),
            ("serviceAccounts.serving", self.service_accounts.serving, None),
        ]
        accounts += [
            (f"inferenceServices[{index}].serviceAccount", s.service_account, None)
            for index, s in enumerate(self.inference_services)
            if s.service_account is not None
        ]
        problems: list[tuple[str, str]] = []
        for key, account, reader in accounts:
            mismatch = identity_problems(account, provider, key)
            problems += mismatch or (rrsa_problems(account, key, reader) if reader else [])
        return problems

    @property
    def cache_namespace(self) -> str:
        """Namespace of the team's Fluid cache pods (``datasetCache.namespace`` or
        ``kubeai-cache-<team>``)."""
        return self.dataset_cache.namespace or f"kubeai-cache-{self.team.name}"

    def check_against_platform(self, platform: PlatformOutputs) -> None:
        """Cross-stack checks with the platform stack's outputs; raises ``ConfigError``.

        GPU quota vs the pools' capacity, Fluid for datasets, the Queue keys vs the platform's
        queue plugin (``Queue.policy_problems``), every replica vs the platform's nodes
        (``infra.config.fit.placement_problems``), and the team's name vs the namespaces of the
        platform's monitoring and ingress.
        """
        from infra.config.fit import placement_problems

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
        problems += self.queue.policy_problems(platform.queue_policy, self.platform_stack)
        problems += placement_problems(self, platform)
        problems += self.account_problems(platform.provider)
        problems += self._shared_namespace_problems(platform)
        problems += self.pipelines.platform_problems(platform.argo_enabled, self.platform_stack)
        if problems:
            raise ConfigError(problems)

    def _shared_namespace_problems(self, platform: PlatformOutputs) -> list[tuple[str, str]]:
        """The team's name (its namespace) may not be a namespace of the platform's shared
        clients: ``network.monitoringNamespace`` or one of ``network.ingressNamespaces``."""
        network, name = platform.network, self.team.name
        roles = {n: "kubeai:network.ingressNamespaces" for n in network.ingress_namespaces}
        roles[network.monitoring_namespace] = "kubeai:network.monitoringNamespace"
        if name not in roles:
            return []
        return [
            (
                f"{NAMESPACE}:team.name",
                f"{name!r} is a namespace of platform stack {self.platform_stack!r} "
                f"({roles[name]}), whose pods every team's NetworkPolicies admit; the team's "
                "name is its namespace: choose another",
            )
        ]


def cache_namespace_problems(config: TeamConfig) -> list[tuple[str, str]]:
    """``kubeai:datasetCache.namespace`` names a namespace the team stack may own: the team's
    own, ``kubeai-cache-<team>`` or a name outside the reserved ones (``RESERVED_NAMESPACES``,
    ``RESERVED_PREFIXES``: Kubernetes', the platform's and other teams' cache namespaces). The
    stack creates, labels (Pod Security ``privileged``) and on destroy deletes it, so a reserved
    one would be taken over."""
    chosen = config.dataset_cache.namespace
    own = {config.team.name, f"kubeai-cache-{config.team.name}"}
    if chosen is None or chosen in own:
        return []
    if chosen in RESERVED_NAMESPACES or chosen.startswith(RESERVED_PREFIXES):
        return [
            (
                f"{NAMESPACE}:datasetCache.namespace",
                f"{chosen!r} is a namespace of Kubernetes, the platform or another team; the "
                "team stack creates its cache namespace, labels it privileged and deletes it "
                f"with the stack: leave it unset (kubeai-cache-{config.team.name}) or name one "
                "of your own",
            )
        ]
    return []


def team_problems(config: TeamConfig) -> list[tuple[str, str]]:
    """Checks spanning several keys of a team stack: ``[(key path, message)]``.

    Includes whether its pods and claims will be admitted (``infra.config.fit``: LimitRange,
    ResourceQuota, Pod Security of the cache namespace).
    """
    from infra.config.fit import admission_problems

    problems: list[tuple[str, str]] = admission_problems(config)
    problems += cache_namespace_problems(config)
    if over := exceeds(config.queue.capability, config.quota.as_resources(), "quota"):
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
    problems += config.pipelines.team_problems(
        [d.name for d in config.datasets], [s.name for s in config.inference_services]
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
