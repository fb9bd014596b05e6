"""The platform stack: node pools, add-ons and glue services of one cluster, in dependency order.

Order (``deploy_platform``):

1. the Kubernetes provider (explicit only for ``existing`` clusters that name a kubeconfig or
   context; otherwise the ambient kubeconfig / ``kubernetes:*`` stack config);
2. ``GpuNodePool`` per ``kubeai:nodePools[]``;
3. GPU enablement (device plugin or GPU Operator) *after* the pools (``depends_on``): its
   DaemonSets only make sense once GPU nodes can appear;
4. Volcano; Fluid; the training operator *after* Volcano (it needs the PodGroup CRD at start);
   Argo Workflows (its Release after its CRDs, inside the component);
5. the model registry (the glue services);
6. export ``platform`` = ``platform_outputs(config)`` (what team stacks read through a
   StackReference) and ``nodePools`` (pool name -> provider id).

Checks that need secrets run before any resource (``check_platform_secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.addons.argo import ArgoWorkflows, ArgoWorkflowsArgs
from infra.addons.artifact_store import KEY_SECRETS, static_keys
from infra.addons.fluid import Fluid, FluidArgs
from infra.addons.gpu import GpuEnablement, GpuEnablementArgs
from infra.addons.model_registry import ModelRegistry, ModelRegistryArgs
from infra.addons.training_operator import TrainingOperator, TrainingOperatorArgs
from infra.addons.volcano import Volcano, VolcanoArgs
from infra.config import (
    NAMESPACE,
    REGISTRY_NAMESPACE,
    ConfigError,
    PlatformConfig,
    platform_outputs,
)
from infra.node_pools import GpuNodePool, GpuNodePoolArgs


def check_platform_secrets(config: PlatformConfig, secrets: Mapping[str, object]) -> None:
    """Checks combining config and secrets/add-ons; raises ``ConfigError`` with key paths.

    * ``glue.database: postgresql`` needs the secret ``kubeai:postgresDsn``;
    * object-store keys come in pairs;
    * the training operator runs with ``--gang-scheduler-name=volcano``, so it needs Volcano.
    """
    problems: list[tuple[str, str]] = []
    if config.glue.database == "postgresql" and "postgresDsn" not in secrets:
        problems.append(
            (
                f"{NAMESPACE}:postgresDsn",
                "required when kubeai:glue.database is postgresql: set it with "
                f"`pulumi config set --secret {NAMESPACE}:postgresDsn <dsn>`",
            )
        )
    given = [k for k in KEY_SECRETS if k in secrets]
    if len(given) == 1:
        missing = next(k for k in KEY_SECRETS if k not in secrets)
        problems.append(
            (f"{NAMESPACE}:{missing}", f"set together with {NAMESPACE}:{given[0]} (a key pair)")
        )
    addons = config.addons
    if addons.training_operator.enabled and not addons.volcano.enabled:
        problems.append(
            (
                f"{NAMESPACE}:addons.trainingOperator.enabled",
                "the training operator is installed with --gang-scheduler-name=volcano and "
                "needs Volcano (kubeai:addons.volcano.enabled)",
            )
        )
    if problems:
        raise ConfigError(problems)


def kubernetes_provider(config: PlatformConfig) -> k8s.Provider | None:
    """An explicit Kubernetes provider for ``existing`` clusters naming a kubeconfig/context."""
    existing = config.cluster.existing
    if config.cluster.provider != "existing" or existing is None:
        return None
    if not (existing.kubeconfig or existing.context):
        return None
    return k8s.Provider(
        "kubernetes",
        kubeconfig=existing.kubeconfig,
        context=existing.context,
    )


@dataclass
class PlatformStack:
    """What ``deploy_platform`` built (for tests and the render): components by role."""

    provider: k8s.Provider | None
    pools: list[GpuNodePool]
    gpu: GpuEnablement
    model_registry: ModelRegistry
    volcano: Volcano | None = None
    fluid: Fluid | None = None
    training_operator: TrainingOperator | None = None
    argo: ArgoWorkflows | None = None
    exports: dict[str, object] = field(default_factory=dict)


def deploy_platform(
    config: PlatformConfig, *, secrets: dict[str, pulumi.Output[str]]
) -> PlatformStack:
    """Declare the platform stack (module docstring) and export its outputs.

    Raises ``ConfigError`` (before any resource) for missing/half secrets or add-on conflicts.
    """
    check_platform_secrets(config, secrets)
    provider = kubernetes_provider(config)
    k8s_opts = pulumi.ResourceOptions(providers=[provider]) if provider is not None else None

    def opts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=list(depends_on))
        )

    pools = [
        GpuNodePool(f"pool-{pool.name}", GpuNodePoolArgs(cluster=config.cluster, pool=pool))
        for pool in config.node_pools
    ]
    gpu = GpuEnablement(
        "gpu",
        GpuEnablementArgs(
            mode=config.gpu_mode, config=config.addons.gpu, provider=config.cluster.provider
        ),
        opts=opts(*pools),
    )
    addons = config.addons
    volcano = (
        Volcano("volcano", VolcanoArgs(config=addons.volcano), opts=opts())
        if (addons.volcano.enabled)
        else None
    )
    fluid = (
        Fluid("fluid", FluidArgs(config=addons.fluid), opts=opts())
        if (addons.fluid.enabled)
        else None
    )
    training = None
    if addons.training_operator.enabled:
        training = TrainingOperator(
            "training-operator",
            TrainingOperatorArgs(config=addons.training_operator, volcano=volcano),
            opts=opts(),
        )
    keys = static_keys(secrets)
    argo = None
    if addons.argo.enabled:
        argo = ArgoWorkflows(
            "argo",
            ArgoWorkflowsArgs(
                config=addons.argo,
                artifact_store=config.artifact_store,
                static_credentials=keys is not None,
            ),
            opts=opts(),
        )
    model_registry = ModelRegistry(
        "glue",
        ModelRegistryArgs(
            glue=config.glue,
            artifact_store=config.artifact_store,
            postgres_dsn=secrets.get("postgresDsn"),
            artifact_keys=keys,
            namespace=REGISTRY_NAMESPACE,
        ),
        opts=opts(),
    )
    outputs = platform_outputs(config, glue_namespace=REGISTRY_NAMESPACE).model_dump(by_alias=True)
    exports: dict[str, object] = {
        "platform": outputs,
        "nodePools": {
            pool.name: p.node_pool_id for pool, p in zip(config.node_pools, pools, strict=True)
        },
    }
    for key, value in exports.items():
        pulumi.export(key, value)
    return PlatformStack(
        provider=provider,
        pools=pools,
        gpu=gpu,
        model_registry=model_registry,
        volcano=volcano,
        fluid=fluid,
        training_operator=training,
        argo=argo,
        exports=exports,
    )
