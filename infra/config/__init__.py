"""The whole stack configuration as pydantic models, validated once before any resource exists.

A stack file (``stacks/Pulumi.<stack>.yaml``) holds keys in the ``kubeai`` namespace. Two kinds of
stack share this package (``kubeai:stackKind``):

* ``platform`` — one per cluster/environment (``infra.config.platform``);
* ``team`` — one per team and environment (``infra.config.team``); it names its platform stack
  and reads that stack's outputs (``infra.config.outputs``) through a StackReference.

Modules: ``shared`` (names, quantities, taints, resources, the artifact store, ``ConfigError``),
``platform``, ``team``, ``outputs`` (the platform stack's exports, the registry URL) and
``loading`` (stack-file keys -> validated config). Errors are ``ConfigError`` listing every
problem as ``kubeai:<key path>: message``. Secrets (database DSN, object-store keys, registry
pull keys) are never plain config: they are read with ``Config.get_secret`` and the example
stacks carry none. The names below are re-exported so ``from infra.config import X`` works.
"""

from infra.config.loading import SECRET_KEYS, parse_config, split_keys
from infra.config.outputs import (
    REGISTRY_FULLNAME,
    REGISTRY_NAMESPACE,
    REGISTRY_PORT,
    PlatformOutputs,
    platform_outputs,
    registry_service_name,
    registry_url,
)
from infra.config.platform import (
    AckCluster,
    Addons,
    ArgoAddon,
    ArgoArtifactRepository,
    Cluster,
    EksCluster,
    ExistingCluster,
    FluidAddon,
    FluidEngine,
    GkeCluster,
    GlueImage,
    GlueServices,
    GpuAddon,
    NodePool,
    PlatformConfig,
    TrainingOperatorAddon,
    TritonServingConfig,
    VolcanoAddon,
    platform_problems,
)
from infra.config.shared import (
    DNS_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    GPU_TOLERATION,
    NAMESPACE,
    ArtifactStore,
    ChartSource,
    ConfigError,
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
    Autoscaling,
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
    "DNS_LABEL",
    "GPU_PRESENT_LABEL",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "GPU_TOLERATION",
    "NAMESPACE",
    "REGISTRY_FULLNAME",
    "REGISTRY_NAMESPACE",
    "REGISTRY_PORT",
    "SECRET_KEYS",
    "AckCluster",
    "Addons",
    "ArgoAddon",
    "ArgoArtifactRepository",
    "ArtifactStore",
    "Autoscaling",
    "ChartSource",
    "Cluster",
    "ConfigError",
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
    "InferenceServiceConfig",
    "LabelKey",
    "LabelValue",
    "LimitRangeConfig",
    "Name",
    "NodePool",
    "PlatformConfig",
    "PlatformOutputs",
    "Quantity",
    "Queue",
    "Quota",
    "Resources",
    "Strict",
    "Taint",
    "Team",
    "TeamConfig",
    "TeamGroups",
    "Toleration",
    "TrainingOperatorAddon",
    "TritonServingConfig",
    "VolcanoAddon",
    "parse_config",
    "platform_outputs",
    "platform_problems",
    "registry_service_name",
    "registry_url",
    "split_keys",
    "team_problems",
    "untolerated",
]
