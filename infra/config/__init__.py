"""The whole stack configuration as pydantic models, validated once before any resource exists.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds keys in the ``kubeai`` namespace. Two kinds of
stack share this package (``kubeai:stackKind``):

* ``platform`` — one per cluster/environment (``infra.config.platform``);
* ``team`` — one per team and environment (``infra.config.team``); it names its platform stack
  and reads that stack's outputs (``infra.config.outputs``) through a StackReference.

Modules: ``shared`` (names, quantities, taints, resources, the artifact store, ``ConfigError``),
``platform``, ``team``, ``images`` (``kubeai:images``: registry mirror, pull secrets),
``network`` (``kubeai:network`` of both kinds), ``registry_auth`` (``kubeai:glue.auth``: who
may call the model registry), ``controller`` (``kubeai:glue.controller``: the lifecycle
controller), ``identity`` (cloud workload identities of
ServiceAccounts), ``outputs`` (the platform stack's exports, the registry URL), ``fit`` (will the
team's pods be admitted and scheduled: LimitRange, quota, Pod Security, node size) and
``loading`` (stack-file keys -> validated config). Errors are ``ConfigError`` listing every
problem as ``kubeai:<key path>: message``. Secrets (database DSN, object-store keys, registry
pull keys) are never plain config: they are read with ``Config.get_secret`` and the example
stacks carry none. The names below are re-exported so ``from infra.config import X`` works.
"""

from infra.config.controller import LifecycleController, controller_problems
from infra.config.identity import ServiceAccountConfig, WorkloadIdentity
from infra.config.images import ImageSettings
from infra.config.loading import (
    SECRET_KEYS,
    default_provider_problems,
    parse_config,
    split_keys,
)
from infra.config.network import NetworkOutput, PlatformNetwork, TeamNetwork
from infra.config.outputs import (
    REGISTRY_FULLNAME,
    REGISTRY_NAMESPACE,
    REGISTRY_PORT,
    PlatformOutputs,
    PoolOutput,
    platform_outputs,
    registry_service_name,
    registry_url,
)
from infra.config.platform import (
    AckCluster,
    AckNodeLogin,
    Addons,
    ArgoAddon,
    ArgoArtifactRepository,
    Cluster,
    ClusterAutoscalerAddon,
    EksCluster,
    ExistingCluster,
    FluidAddon,
    FluidEngine,
    GkeCluster,
    GlueImage,
    GlueServices,
    GpuAddon,
    MetricsServerAddon,
    NodePool,
    PlatformConfig,
    QueuePolicy,
    TrainingOperatorAddon,
    TritonServingConfig,
    VolcanoAddon,
    platform_problems,
)
from infra.config.registry_auth import (
    OidcAuth,
    RegistryAuth,
    RegistryBinding,
    StaticTokens,
    TokenReviewAuth,
)
from infra.config.shared import (
    DNS_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TOLERATION,
    GPU_TYPE_LABEL,
    NAMESPACE,
    ArtifactStore,
    ChartSource,
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
    untolerated,
)
from infra.config.team import (
    AGENT_RESOURCES,
    RUNTIME_COMPONENTS,
    Autoscaling,
    DatasetCache,
    DatasetConfig,
    DatasetMount,
    DatasetRuntime,
    InferenceServiceConfig,
    LimitRangeConfig,
    Queue,
    Quota,
    Team,
    TeamConfig,
    TeamGroups,
    team_problems,
)

__all__ = [
    "AGENT_RESOURCES",
    "DNS_LABEL",
    "GPU_PRESENT_LABEL",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "GPU_TOLERATION",
    "GPU_TYPE_LABEL",
    "NAMESPACE",
    "REGISTRY_FULLNAME",
    "REGISTRY_NAMESPACE",
    "REGISTRY_PORT",
    "RUNTIME_COMPONENTS",
    "SECRET_KEYS",
    "AckCluster",
    "AckNodeLogin",
    "Addons",
    "ArgoAddon",
    "ArgoArtifactRepository",
    "ArtifactStore",
    "Autoscaling",
    "ChartSource",
    "Cluster",
    "ClusterAutoscalerAddon",
    "ConfigError",
    "ContainerResources",
    "DatasetCache",
    "DatasetConfig",
    "DatasetMount",
    "DatasetRuntime",
    "EksCluster",
    "ExistingCluster",
    "FluidAddon",
    "FluidEngine",
    "GkeCluster",
    "GlueImage",
    "GlueServices",
    "GpuAddon",
    "ImageSettings",
    "InferenceServiceConfig",
    "LabelKey",
    "LabelValue",
    "LifecycleController",
    "LimitRangeConfig",
    "MetricsServerAddon",
    "Name",
    "NetworkOutput",
    "NodePool",
    "OidcAuth",
    "PlatformConfig",
    "PlatformNetwork",
    "PlatformOutputs",
    "PoolOutput",
    "Quantity",
    "Queue",
    "QueuePolicy",
    "Quota",
    "RegistryAuth",
    "RegistryBinding",
    "Resources",
    "ServiceAccountConfig",
    "StaticTokens",
    "Strict",
    "Taint",
    "Team",
    "TeamConfig",
    "TeamGroups",
    "TeamNetwork",
    "TokenReviewAuth",
    "Toleration",
    "TrainingOperatorAddon",
    "TritonServingConfig",
    "VolcanoAddon",
    "WorkloadIdentity",
    "controller_problems",
    "default_provider_problems",
    "parse_config",
    "platform_outputs",
    "platform_problems",
    "registry_service_name",
    "registry_url",
    "split_keys",
    "team_problems",
    "untolerated",
]
