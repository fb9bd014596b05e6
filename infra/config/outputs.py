"""What a platform stack exports for its team stacks, and where its model registry answers.

``platform_outputs(config)`` is the one computation of the ``platform`` stack output: the platform
program exports it and the offline render of a team stack computes it from the platform stack's
file, so both see the same values. Team stacks read it through a StackReference
(``PlatformOutputs.model_validate``).

The registry URL is built from ``REGISTRY_NAMESPACE``, ``REGISTRY_FULLNAME`` and
``REGISTRY_PORT``, the same constants the model-registry add-on
(``infra.addons.model_registry``) installs the kubeai-glue chart with.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel

from infra.config.network import NetworkOutput
from infra.config.platform import NodePool, PlatformConfig, QueuePolicy
from infra.config.shared import ArtifactStore, Resources, Taint
from infra.images import mirrored

#: Namespace of the model registry (the glue services).
REGISTRY_NAMESPACE = "kubeai-system"
#: ``fullnameOverride`` of the kubeai-glue release: its objects are named ``kubeai-...``.
REGISTRY_FULLNAME = "kubeai"
#: Port of the registry Service (charts/kubeai-glue values.yaml ``registry.service.port``).
REGISTRY_PORT = 8080


def registry_service_name(fullname: str = REGISTRY_FULLNAME) -> str:
    """Name of the registry Service of a kubeai-glue release (``<fullname>-registry``)."""
    return f"{fullname}-registry"


def registry_url(namespace: str = REGISTRY_NAMESPACE) -> str:
    """In-cluster URL of the model registry (``http://kubeai-registry.<namespace>.svc:8080``)."""
    return f"http://{registry_service_name()}.{namespace}.svc:{REGISTRY_PORT}"


class PoolOutput(BaseModel):
    """One node pool as team stacks see it: what a single node offers a replica.

    ``labels``/``taints`` are the nodes' effective ones (``NodePool.effective_labels`` /
    ``effective_taints``); ``allocatable`` is None when the platform stack does not declare it.
    """

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    name: str
    gpu_type: str = ""
    gpus_per_node: int = 0
    max_size: int = 0
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    allocatable: Resources | None = None

    @classmethod
    def of(cls, pool: NodePool) -> PoolOutput:
        """The exported shape of ``pool``."""
        return cls(
            name=pool.name,
            gpu_type=pool.gpu_type,
            gpus_per_node=pool.gpus_per_node,
            max_size=pool.max_size,
            labels=pool.effective_labels,
            taints=pool.effective_taints,
            allocatable=pool.allocatable,
        )


class PlatformOutputs(BaseModel):
    """What a platform stack exports for its team stacks (read through a StackReference).

    Keys are camelCase in the export; unknown keys (from a newer platform stack) are ignored.
    ``artifact_store`` is exported without its unset fields. ``node_pools`` (one ``PoolOutput``
    per pool) is empty when read from a platform stack exported before it existed; team checks
    that need it (replica vs node size) are then skipped.
    """

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    environment: str
    provider: str
    gpu_capacity: dict[str, int]
    gpu_pools: list[str]
    fluid_enabled: bool
    volcano_enabled: bool
    #: ``kubeai:addons.volcano.queuePolicy``: the plugin that reads team Queues. Platform stacks
    #: exported before the key existed ran ``proportion``, hence the default.
    queue_policy: QueuePolicy = "proportion"
    argo_enabled: bool
    team_label: str
    registry_url: str
    glue_image: str
    triton_image: str
    #: Optional keys default to None: the engine drops null values from stack outputs, so a
    #: platform stack without a pull secret exports no such key at all.
    triton_image_pull_secret: str | None = None
    artifact_store: ArtifactStore
    node_pools: list[PoolOutput] = []
    #: ``kubeai:network`` of the platform (defaults when exported before it existed).
    network: NetworkOutput = Field(default_factory=NetworkOutput)
    #: Pull secrets of the glue image (``kubeai:glue.imagePullSecrets``), which the serving
    #: agents run too; empty from a platform stack exported before it existed.
    glue_image_pull_secrets: list[str] = []
    #: ``kubeai:images``: the mirror (``glue_image`` and ``triton_image`` above already point
    #: at it) and the pull secrets team workloads reference; absent from older exports.
    image_registry: str | None = None
    image_pull_secrets: list[str] = []
    #: Audience of the projected ServiceAccount token serving agents present to the registry
    #: (``kubeai:glue.auth``); None: agents send no token (a platform stack exported before the
    #: registry authenticated, or one whose registry does not review ServiceAccount tokens).
    registry_audience: str | None = None

    @field_serializer("artifact_store")
    def _store(self, store: ArtifactStore) -> dict[str, Any]:
        return store.model_dump(by_alias=True, exclude_none=True)


def platform_outputs(
    config: PlatformConfig, *, glue_namespace: str = REGISTRY_NAMESPACE
) -> PlatformOutputs:
    """The outputs a platform stack exports, computed from its configuration alone."""
    return PlatformOutputs(
        environment=config.environment,
        provider=config.cluster.provider,
        gpu_capacity=config.gpu_capacity,
        gpu_pools=[p.name for p in config.node_pools if p.is_gpu],
        fluid_enabled=config.addons.fluid.enabled,
        volcano_enabled=config.addons.volcano.enabled,
        queue_policy=config.addons.volcano.queue_policy,
        argo_enabled=config.addons.argo.enabled,
        team_label=config.team_label,
        registry_url=registry_url(glue_namespace),
        glue_image=mirrored(
            f"{config.glue.image.repository}:{config.glue.image.tag}", config.images.registry
        ),
        triton_image=mirrored(config.triton.image, config.images.registry),
        triton_image_pull_secret=config.triton.image_pull_secret,
        artifact_store=config.artifact_store,
        node_pools=[PoolOutput.of(p) for p in config.node_pools],
        network=NetworkOutput.model_validate(config.network.model_dump()),
        glue_image_pull_secrets=list(config.glue.image_pull_secrets),
        image_registry=config.images.registry,
        image_pull_secrets=list(config.images.pull_secrets),
        registry_audience=config.glue.auth.agent_audience,
    )
