"""``kubeai:glue.controller``: the lifecycle controller the platform runs beside the registry.

The controller (``python -m glue.controller``, the glue image) turns training jobs that carry
``kubeai.dev/model`` into registry versions and keeps Fluid Datasets' lineage current. The keys
become the kubeai-glue chart's ``controller.*`` values (``infra.addons.model_registry``); the
team label is the platform's ``kubeai:teamLabel`` and the registry, its token audience and the
artifact store are the platform's own, so only these are configurable here:

* ``enabled`` (default true): run it. It authenticates to the registry with a projected
  ServiceAccount token, so it needs ``kubeai:glue.auth.kubernetes.enabled`` (checked by
  ``GlueServices``, reported at ``kubeai:glue.controller.enabled``).
* ``replicas`` (1..5, default 2): pods; one holds the leader-election Lease, the others stand by.
* ``resources``: requests and limits of its container (default 50m CPU / 192Mi, limits 500m
  / 384Mi; limits must cover requests).
* ``podAntiAffinity``: ``soft`` (default: replicas preferably on different nodes), ``hard``
  (one per node, required) or ``none``.
* ``logLevel``: ``DEBUG``, ``INFO`` (default), ``WARNING`` or ``ERROR``.
* ``artifactRoot``: URI under which jobs without ``kubeai.dev/artifact-uri`` write their output;
  default: the platform's bucket (``kubeai:artifactStore``), e.g. ``s3://kubeai-artifacts``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.config.shared import NAMESPACE, ContainerResources, Resources, Strict

#: Resources of the controller container by default (the chart's defaults).
DEFAULT_RESOURCES = ContainerResources(
    requests=Resources(cpu="50m", memory="192Mi"), limits=Resources(cpu="500m", memory="384Mi")
)


class LifecycleController(Strict):
    """``kubeai:glue.controller`` (module docstring). ``replicas`` is 1..5; ``artifactRoot``
    an ``s3://``, ``oss://``, ``gs://`` or ``file://`` URI (None: the platform bucket)."""

    enabled: bool = True
    replicas: int = Field(default=2, ge=1, le=5)
    resources: ContainerResources = DEFAULT_RESOURCES
    pod_anti_affinity: Literal["soft", "hard", "none"] = "soft"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    artifact_root: str | None = Field(
        default=None, max_length=1024, pattern=r"^(s3|oss|gs|file)://[^\s?#]+$"
    )


def controller_problems(
    controller: LifecycleController, token_review: bool
) -> list[tuple[str, str]]:
    """``[(key path, message)]`` for a controller that cannot work: enabled while the registry
    does not check ServiceAccount tokens (``token_review``, i.e.
    ``kubeai:glue.auth.kubernetes.enabled``), so its projected token would be refused."""
    if controller.enabled and not token_review:
        return [
            (
                f"{NAMESPACE}:glue.controller.enabled",
                "the lifecycle controller presents a projected ServiceAccount token, which the "
                "registry checks with TokenReview: keep kubeai:glue.auth.kubernetes.enabled "
                "true, or set kubeai:glue.controller.enabled to false",
            )
        ]
    return []
