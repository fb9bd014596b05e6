"""The platform stack: node pools, add-ons and glue services of one cluster, in dependency order.

``Platform`` is the stack's one component (type ``kubeai:platform:Platform``, name ``platform``);
its children keep the URNs they had when they sat directly under the stack (``aliases``, see
``infra.aliases``). Order:

1. the explicit providers (``infra.providers``): the cloud provider of the cluster's block and
   the Kubernetes provider built from the cluster itself; every child uses them, never a
   default provider;
2. ``GpuNodePool`` per ``kubeai:nodePools[]``, then their autoscaling and metrics-server
   (``infra.addons.autoscaling``);
3. GPU enablement (device plugin or GPU Operator) *after* the pools (``depends_on``): its
   DaemonSets only make sense once GPU nodes can appear;
4. Volcano; Fluid; the training operator *after* Volcano (it needs the PodGroup CRD at start);
   Argo Workflows (its Release after its CRDs, inside the component);
5. the model registry (the glue services);
6. ``exports``: ``platform`` = ``platform_outputs(config)`` (what team stacks read through a
   StackReference), ``nodePools`` (pool name -> provider id), ``clusterUid`` (the cluster's
   identity, ``infra.cluster_identity``) and ``kubernetes`` (the Kubernetes provider settings
   team stacks connect with, ``infra.providers``); ``infra.program`` exports them.

Checks that need secrets run before any resource (``check_platform_secrets``), so the component
raises ``ConfigError`` with key paths before it registers anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from infra import cluster_identity, providers
from infra.addons.argo import ArgoWorkflows, ArgoWorkflowsArgs
from infra.addons.artifact_store import KEY_SECRETS, static_keys
from infra.addons.autoscaling import NodeAutoscaling, NodeAutoscalingArgs
from infra.addons.fluid import Fluid, FluidArgs
from infra.addons.gpu import GpuEnablement, GpuEnablementArgs
from infra.addons.model_registry import ModelRegistry, ModelRegistryArgs
from infra.addons.namespace_ownership import NamespaceOwnership
from infra.addons.training_operator import TrainingOperator, TrainingOperatorArgs
from infra.addons.values import platform_values_problems
from infra.addons.volcano import Volcano, VolcanoArgs
from infra.aliases import moved_from_stack_root
from infra.config import (
    NAMESPACE,
    REGISTRY_NAMESPACE,
    ConfigError,
    PlatformConfig,
    platform_outputs,
)
from infra.node_pools import GpuNodePool, GpuNodePoolArgs

#: Pulumi type of the platform component.
TYPE = "kubeai:platform:Platform"


def check_platform_secrets(config: PlatformConfig, secrets: Mapping[str, object]) -> None:
    """Checks combining config and secrets/add-ons; raises ``ConfigError`` with key paths.

    * ``glue.database: postgresql`` needs the secret ``kubeai:postgresDsn``;
    * object-store keys come in pairs;
    * an ACK node login by password reads its Pulumi secret (``AckNodeLogin.secret_key``);
    * the training operator runs with ``--gang-scheduler-name=volcano``, so it needs Volcano;
    * every ``kubeai:addons.<addon>.values`` against the chart it goes to
      (``infra.addons.values.platform_values_problems``; reads the pinned chart archives).
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
    login = config.cluster.ack.node_login if config.cluster.ack is not None else None
    login_secret = login.secret_key if login is not None else None
    if login is not None and login_secret is not None and login_secret not in secrets:
        problems.append(
            (
                f"{NAMESPACE}:{login_secret}",
                f"required by kubeai:cluster.ack.nodeLogin.method {login.method}: set "
                f"it with `pulumi config set --secret {NAMESPACE}:{login_secret} ...`",
            )
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
    problems += platform_values_problems(config)
    if problems:
        raise ConfigError(problems)


@dataclass(frozen=True)
class PlatformArgs:
    """Inputs of ``Platform``: the validated stack config and its Pulumi secrets by key
    (``postgresDsn``, ``artifactStoreAccessKeyId``, ``artifactStoreSecretAccessKey``, ...)."""

    config: PlatformConfig
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ConfigError`` (key paths) for missing/half secrets or add-on conflicts."""
        check_platform_secrets(self.config, self.secrets)


class Platform(pulumi.ComponentResource):
    """Everything a platform stack declares (module docstring), in dependency order.

    Attributes: ``provider`` (the explicit Kubernetes provider), ``cloud`` (the explicit cloud
    provider, None for ``existing`` clusters), ``pools``, ``autoscaling``, ``gpu``,
    ``model_registry``, ``volcano``/``fluid``/``training_operator``/``argo`` (None when
    disabled) and ``exports`` (stack outputs by name, for ``pulumi.export``).
    """

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__(TYPE, name, None, opts)
        config = args.config
        self.cloud = providers.cloud_provider(config.cluster, self._child())
        kubeconfig = providers.cluster_kubeconfig(config.cluster, self.cloud)
        settings = providers.platform_settings(config.cluster, kubeconfig)
        self.provider = providers.kubernetes_provider(settings, self._child())
        self.providers: list[pulumi.ProviderResource] = [self.provider]
        if self.cloud is not None:
            self.providers.append(self.cloud)
        self.pools = [
            GpuNodePool(
                f"pool-{pool.name}",
                GpuNodePoolArgs(cluster=config.cluster, pool=pool, secrets=args.secrets),
                opts=self._k8s(),
            )
            for pool in config.node_pools
        ]
        self.autoscaling = NodeAutoscaling(
            "autoscaling",
            NodeAutoscalingArgs(
                cluster=config.cluster,
                autoscaler=config.addons.cluster_autoscaler,
                metrics_server=config.addons.metrics_server,
                install_metrics_server=config.metrics_server_enabled,
                images=config.images,
            ),
            opts=self._k8s(*self.pools),
        )
        self.gpu = GpuEnablement(
            "gpu",
            GpuEnablementArgs(
                mode=config.gpu_mode,
                config=config.addons.gpu,
                provider=config.cluster.provider,
                images=config.images,
            ),
            opts=self._k8s(*self.pools),
        )
        keys = static_keys(args.secrets)
        self._addons(config, static_credentials=keys is not None)
        self.model_registry = ModelRegistry(
            "glue",
            ModelRegistryArgs(
                glue=config.glue,
                artifact_store=config.artifact_store,
                postgres_dsn=args.secrets.get("postgresDsn"),
                artifact_keys=keys,
                namespace=REGISTRY_NAMESPACE,
                network=config.network,
                team_label=config.team_label,
                images=config.images,
            ),
            opts=self._k8s(),
        )
        outputs = platform_outputs(config, glue_namespace=REGISTRY_NAMESPACE)
        self.exports: dict[str, object] = {
            "platform": outputs.model_dump(by_alias=True),
            "nodePools": {
                pool.name: p.node_pool_id
                for pool, p in zip(config.node_pools, self.pools, strict=True)
            },
        }
        # Read only when the cluster exists (the node pools create it on EKS/GKE/ACK).
        self.exports[cluster_identity.OUTPUT] = cluster_identity.cluster_uid(self._k8s(*self.pools))
        self.exports[providers.OUTPUT] = settings
        self.register_outputs(self.exports)

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options of a direct child: parented here, aliased to its place under the stack."""
        return moved_from_stack_root(
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        )

    def _k8s(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options of a child that talks to the cluster or the cloud: the stack's explicit
        providers, inherited by all its descendants."""
        return pulumi.ResourceOptions.merge(
            self._child(*depends_on), pulumi.ResourceOptions(providers=list(self.providers))
        )

    def _addons(self, config: PlatformConfig, *, static_credentials: bool) -> None:
        """Volcano, Fluid, the training operator (after Volcano) and Argo Workflows
        (``static_credentials``: the stack has static object-store keys)."""
        addons, images = config.addons, config.images
        # Before any team stack can run: team stacks never adopt an existing Namespace.
        self.namespace_ownership = NamespaceOwnership("namespace-ownership", opts=self._k8s())
        self.volcano = (
            Volcano("volcano", VolcanoArgs(config=addons.volcano, images=images), opts=self._k8s())
            if addons.volcano.enabled
            else None
        )
        self.fluid = (
            Fluid("fluid", FluidArgs(config=addons.fluid, images=images), opts=self._k8s())
            if addons.fluid.enabled
            else None
        )
        self.training_operator = (
            TrainingOperator(
                "training-operator",
                TrainingOperatorArgs(
                    config=addons.training_operator, volcano=self.volcano, images=images
                ),
                opts=self._k8s(),
            )
            if addons.training_operator.enabled
            else None
        )
        self.argo = (
            ArgoWorkflows(
                "argo",
                ArgoWorkflowsArgs(
                    config=addons.argo,
                    artifact_store=config.artifact_store,
                    static_credentials=static_credentials,
                    images=images,
                ),
                opts=self._k8s(),
            )
            if addons.argo.enabled
            else None
        )
