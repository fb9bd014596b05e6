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

from pydantic import BaseModel, ConfigDict, field_serializer
from pydantic.alias_generators import to_camel

from infra.config.platform import PlatformConfig
from infra.config.shared import ArtifactStore

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


class PlatformOutputs(BaseModel):
    """What a platform stack exports for its team stacks (read through a StackReference).

    Keys are camelCase in the export; unknown keys (from a newer platform stack) are ignored.
    ``artifact_store`` is exported without its unset fields.
    """

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
    artifact_store: ArtifactStore

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
        argo_enabled=config.addons.argo.enabled,
        team_label=config.team_label,
        registry_url=registry_url(glue_namespace),
        glue_image=f"{config.glue.image.repository}:{config.glue.image.tag}",
        triton_image=config.triton.image,
        triton_image_pull_secret=config.triton.image_pull_secret,
        artifact_store=config.artifact_store,
    )
