"""The Triton serving layer: platform defaults every inference service release uses.

The platform stack exports the defaults in ``PlatformOutputs`` (tritonserver image pinned at
``versions.TRITON_IMAGE`` unless ``kubeai:triton.image`` overrides it, both already rewritten to
the ``kubeai:images.registry`` mirror by ``infra.images.mirrored``; the nvcr.io pull secret
name, the registry URL, the glue image that carries the serving agent). A team stack builds one
``TritonServing`` component in its namespace; it resolves those defaults and, when the team stack
has the Pulumi secret ``kubeai:nvcrApiKey``, creates the ``kubernetes.io/dockerconfigjson`` pull
secret for nvcr.io (user ``$oauthtoken``, password the NGC API key: NGC's documented login).

Each inference service is then a release of ``charts/triton-inference`` whose values come from
``inference_service_values`` (the one builder of that chart's values; keys from
charts/triton-inference/values.yaml). Pulumi owns the service's infrastructure (replicas,
resources, GPUs, tolerations); which model versions it serves is the registry's business, so no
value here names a model version. The model and its initial alias go to the chart's
``registry.initialAssignments``: the serving agent creates the registry record with them only
when it does not exist yet, so ``pulumi up`` never undoes a promotion. They are also shown as pod
annotations (``kubeai.dev/model``, ``kubeai.dev/initial-alias``) for people reading pods.

The service's ServiceAccount carries its cloud identity (``serviceAccount.annotations``, e.g.
IRSA or Workload Identity from ``kubeai:serviceAccounts.serving``; ``infra.config.identity``), so
the agent reads model artifacts without static keys; the agent authenticates to the registry
with a projected token of that account for the platform's registry audience
(``registry.token``, ``PlatformOutputs.registry_audience``); the pods pull with the nvcr.io
secret, the platform's glue image pull secrets and the team's own (``imagePullSecrets``);
``checksums`` carries the sha256 of the Secrets the team stack creates for the pods (static
object-store keys), so changing one rolls the service.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.addons.artifact_store import artifact_values
from infra.config import (
    GPU_PRESENT_LABEL,
    ArtifactStore,
    InferenceServiceConfig,
    PlatformOutputs,
    ServiceAccountConfig,
    TritonServingConfig,
)
from infra.images import ImageRef

#: Chart directory (relative to the repository root).
CHART = ("charts", "triton-inference")
#: The registry an NGC API key logs in to (NGC's documented ``docker login nvcr.io``).
NGC_REGISTRY = "nvcr.io"


def _warn_unused_ngc_key(mirror: str | None) -> None:
    """Warn that ``kubeai:nvcrApiKey`` is not what pulls Triton when a mirror serves it."""
    if mirror:
        pulumi.log.warn(
            f"kubeai:nvcrApiKey: Triton is pulled from the mirror {mirror} "
            "(the platform's kubeai:images.registry), not nvcr.io; the nvcr.io pull secret is "
            "still created but the mirror's credentials are kubeai:images.pullSecrets"
        )


#: Pull secret name used when the platform names none but the team has an nvcr.io API key.
DEFAULT_PULL_SECRET = "nvcr-pull"  # noqa: S105 (a Secret name)
#: NGC's fixed user name for API-key logins.
NGC_USER = "$oauthtoken"
MODEL_ANNOTATION = "kubeai.dev/model"
ALIAS_ANNOTATION = "kubeai.dev/initial-alias"


@dataclass(frozen=True)
class TritonDefaults:
    """Resolved serving defaults (from ``PlatformOutputs``) used by every service release."""

    triton_image: ImageRef
    agent_image: ImageRef
    registry_url: str
    pull_secret: str | None
    artifact_store: ArtifactStore
    model_repository_size: str
    poll_interval_seconds: float
    glue_pull_secrets: tuple[str, ...] = field(default=())
    #: ``kubeai:images.pullSecrets`` of the platform (its registry mirror's credentials).
    mirror_pull_secrets: tuple[str, ...] = field(default=())
    #: Audience of the agents' projected ServiceAccount token for the registry; None: no token
    #: (``PlatformOutputs.registry_audience``).
    registry_audience: str | None = None

    @classmethod
    def from_platform(cls, platform: PlatformOutputs, *, pull_secret: str | None) -> TritonDefaults:
        """Defaults for ``platform``; ``pull_secret`` is the secret actually available (or None).

        ``model_repository_size`` and ``poll_interval_seconds`` are taken from the platform
        outputs when it exports them, else from ``kubeai:triton`` defaults.
        """
        serving_defaults = TritonServingConfig()
        return cls(
            triton_image=ImageRef.parse(platform.triton_image),
            agent_image=ImageRef.parse(platform.glue_image),
            registry_url=platform.registry_url,
            pull_secret=pull_secret,
            artifact_store=platform.artifact_store,
            model_repository_size=str(
                getattr(
                    platform,
                    "triton_model_repository_size",
                    serving_defaults.model_repository_size,
                )
            ),
            poll_interval_seconds=float(
                getattr(
                    platform,
                    "triton_poll_interval_seconds",
                    serving_defaults.poll_interval_seconds,
                )
            ),
            glue_pull_secrets=tuple(platform.glue_image_pull_secrets),
            mirror_pull_secrets=tuple(platform.image_pull_secrets),
            registry_audience=platform.registry_audience,
        )


def _token_values(audience: str | None) -> dict[str, Any]:
    """The chart's ``registry.token``: a projected token for ``audience``, or none."""
    return {"enabled": True, "audience": audience} if audience else {"enabled": False}


def inference_service_values(
    service: InferenceServiceConfig,
    defaults: TritonDefaults,
    *,
    team: str = "default",
    artifact_secret: str | None = None,
    service_account: ServiceAccountConfig | None = None,
    pull_secrets: Sequence[str] = (),
    checksums: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Values of ``charts/triton-inference`` for one service of ``team``.

    ``service_account``: the identity and annotations of the service's ServiceAccount;
    ``pull_secrets``: the team's image pull secrets, after the nvcr.io one, the platform's
    glue ones and its mirror's (``kubeai:images.pullSecrets``), each name once; ``checksums``:
    sha256 of the Secrets the pods read, by name.

    Registry credentials: the agent presents a projected ServiceAccount token for
    ``defaults.registry_audience`` (none when the platform's registry reviews no ServiceAccount
    tokens); its team is ``team`` (the team's namespace) and the registry lets only the pods of
    this service's ServiceAccount report its pods.

    GPUs: ``gpu.count`` sets the ``nvidia.com/gpu`` requests/limits and makes the chart add the
    node selector ``nvidia.com/gpu.present=true``; the tolerations are the service's effective
    ones (the GPU taint's by default when it asks for GPUs), passed in ``tolerations`` with
    ``gpu.tolerations`` emptied so the stack config stays the one source of them.
    """
    autoscaling = service.autoscaling
    account = service_account or ServiceAccountConfig()
    values: dict[str, Any] = {
        "fullnameOverride": service.name,
        "registry": {
            "url": defaults.registry_url,
            "service": service.name,
            "team": team,
            "initialAssignments": [{"model": service.model, "alias": service.alias}],
            "token": _token_values(defaults.registry_audience),
        },
        "replicas": service.replicas,
        "imagePullSecrets": [
            {"name": name}
            for name in dict.fromkeys(
                [
                    *([defaults.pull_secret] if defaults.pull_secret else []),
                    *defaults.glue_pull_secrets,
                    *defaults.mirror_pull_secrets,
                    *pull_secrets,
                ]
            )
        ],
        "serviceAccount": {"annotations": account.all_annotations()},
        "checksums": dict(checksums or {}),
        "tritonserver": {
            "image": defaults.triton_image.values(),
            "resources": {
                "requests": {"cpu": service.cpu, "memory": service.memory},
                "limits": {"memory": service.memory},
            },
        },
        "agent": {
            "image": defaults.agent_image.values(),
            "pollInterval": defaults.poll_interval_seconds,
        },
        "modelRepository": {"sizeLimit": defaults.model_repository_size},
        "gpu": {
            "count": service.gpus,
            "tolerations": [],
            "nodeSelector": {GPU_PRESENT_LABEL: "true"},
        },
        "tolerations": [t.manifest() for t in service.effective_tolerations],
        "nodeSelector": dict(service.node_selector),
        "autoscaling": {
            "enabled": autoscaling.enabled,
            "minReplicas": autoscaling.min_replicas,
            "maxReplicas": autoscaling.max_replicas,
            "targetCPUUtilizationPercentage": autoscaling.target_cpu_utilization,
        },
        "podAnnotations": {MODEL_ANNOTATION: service.model, ALIAS_ANNOTATION: service.alias},
        "artifacts": artifact_values(defaults.artifact_store, existing_secret=artifact_secret),
    }
    if labels := account.pod_labels():
        values["podLabels"] = labels
    return values


def dockerconfigjson(registry: str, api_key: str) -> str:
    """``.dockerconfigjson`` content for an NGC API key login to ``registry``."""
    auth = base64.b64encode(f"{NGC_USER}:{api_key}".encode()).decode()
    return json.dumps(
        {"auths": {registry: {"username": NGC_USER, "password": api_key, "auth": auth}}},
        sort_keys=True,
    )


@dataclass(frozen=True)
class TritonServingArgs:
    """Inputs of ``TritonServing``.

    ``platform``: the platform outputs (already checked); ``namespace``: the team namespace;
    ``nvcr_api_key``: the Pulumi secret ``kubeai:nvcrApiKey`` or None.
    """

    platform: pulumi.Output[PlatformOutputs]
    namespace: pulumi.Input[str]
    nvcr_api_key: pulumi.Output[str] | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` when ``platform`` is not an Output of ``PlatformOutputs``."""
        if not isinstance(self.platform, pulumi.Output):
            raise ValueError("platform must be a pulumi.Output[PlatformOutputs]")


class TritonServing(pulumi.ComponentResource):
    """Serving defaults of a team namespace (+ the nvcr.io pull secret when a key is given).

    Attributes: ``defaults`` (``Output[TritonDefaults]``), ``pull_secret_name`` (``None`` when no
    pull secret exists), ``triton_image`` and ``pull_secret`` (the Secret resource or None).
    The Triton image default is ``versions.TRITON_IMAGE``.
    """

    defaults: pulumi.Output[TritonDefaults]
    pull_secret_name: pulumi.Output[str | None]
    triton_image: pulumi.Output[str]

    def __init__(
        self, name: str, args: TritonServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:TritonServing", name, None, opts)
        self.pull_secret: k8s.core.v1.Secret | None = None
        mirror = args.platform.apply(lambda p: p.image_registry)
        if args.nvcr_api_key is not None:
            mirror.apply(_warn_unused_ngc_key)
            api_key = args.nvcr_api_key
            secret_name = args.platform.apply(
                lambda p: p.triton_image_pull_secret or DEFAULT_PULL_SECRET
            )
            content = api_key.apply(lambda key: dockerconfigjson(NGC_REGISTRY, str(key)))
            self.pull_secret = k8s.core.v1.Secret(
                f"{name}-pull-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=args.namespace),
                type="kubernetes.io/dockerconfigjson",
                string_data={".dockerconfigjson": content},  # secret: derived from the key
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.pull_secret_name = secret_name
        else:
            self.pull_secret_name = pulumi.Output.from_input(None)
        self.defaults = pulumi.Output.all(args.platform, self.pull_secret_name).apply(
            lambda pair: TritonDefaults.from_platform(pair[0], pull_secret=pair[1])
        )
        self.triton_image = args.platform.apply(lambda p: p.triton_image)
        self.register_outputs(
            {
                "pullSecretName": self.pull_secret_name,
                "tritonImage": self.triton_image,
                "defaultImage": versions.TRITON_IMAGE,
            }
        )
