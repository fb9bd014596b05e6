"""The model registry add-on: our chart ``charts/kubeai-glue`` (the registry and its wiring).

``ModelRegistry`` installs the glue services of ``kubeai:glue``: the namespace
``REGISTRY_NAMESPACE``, the database and object-store Secrets, and the ``kubeai-glue`` release.
Values (``glue_values``, the one builder of this chart's values; keys from
charts/kubeai-glue/values.yaml):

* ``fullnameOverride: kubeai`` -> the registry Service ``kubeai-registry`` that
  ``PlatformOutputs.registry_url`` names: both are built from ``infra.config.outputs``'
  ``REGISTRY_FULLNAME``/``REGISTRY_NAMESPACE``/``REGISTRY_PORT``;
* ``image.repository``/``image.tag`` from ``kubeai:glue.image`` (required, never ``latest``);
* database: SQLite on a PersistentVolumeClaim by default (``persistence.*``, one replica); with
  ``kubeai:glue.database: postgresql`` the DSN comes from the Pulumi secret
  ``kubeai:postgresDsn`` (required; checked with the stack config by
  ``infra.platform.check_platform_secrets``), stored in the Secret ``kubeai-registry-database``
  that the release references (``database.postgresql.existingSecret``), so the DSN never appears
  in Helm values;
* ``artifacts.*``: the platform object store (``infra.addons.artifact_store``); static keys go
  into the Secret ``kubeai-artifact-store`` (``existingSecret``), otherwise the SDK's credential
  chain applies (IRSA, Workload Identity, RRSA).
* ``networkPolicy.*`` (``network_policy_values``): the registry admits, on its port, the glue
  namespace itself (the platform's components beside it), every namespace carrying the
  platform's team label ``kubeai:teamLabel`` (the teams' serving agents and pipelines), the
  namespaces of ``kubeai:network.ingressNamespaces`` and ``kubeai:network.monitoringNamespace``
  (Prometheus scrapes ``/metrics`` on the same port) and the networks of
  ``kubeai:network.ingressCidrs``; nothing else. The registry binds ``0.0.0.0`` inside its pod,
  as a server behind a Service must; this policy is the boundary, enforced by a CNI that
  implements NetworkPolicy (teams' own namespaces: ``infra.network_policy``).
  chain applies: IRSA or Workload Identity from ``kubeai:glue.serviceAccount.workloadIdentity``
  (``serviceAccount.annotations``; ``infra.config.identity``), so no static key is needed;
* ``registry.auth`` (``auth_values``) from ``kubeai:glue.auth`` (``infra.config.registry_auth``):
  by default TokenReview of ServiceAccount tokens for the audience ``kubeai-registry`` (the
  chart then binds the registry's ServiceAccount to ``system:auth-delegator``), OIDC and static
  tokens when configured, the role bindings, admins and controllers;
* ``controller`` (``controller_values``) from ``kubeai:glue.controller``
  (``infra.config.controller``): the lifecycle controller beside the registry, with the
  platform's team label ``kubeai:teamLabel``, its replicas, resources, spreading and log level,
  the artifact root of its output convention (default: the platform bucket, e.g.
  ``s3://<bucket>``), the registry's cloud identity on its own ServiceAccount (the cloud role
  must also trust ``<glue namespace>/kubeai-controller``), and its metrics port open to
  ``kubeai:network.monitoringNamespace`` only. The chart grants its RBAC and adds its account to
  the registry's ``controllers``;
* ``checksums``: the sha256 of the data of each Secret the stack creates for the registry
  (``database``, ``artifact-store``), so changing a secret rolls the registry and controller
  pods;
* ``imagePullSecrets`` from ``kubeai:glue.imagePullSecrets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.addons import (
    ADDON_TIMEOUT_S,
    check_dns_label,
    create_namespace,
    release_settings,
    repo_path,
)
from infra.addons.artifact_store import (
    ARTIFACT_SECRET,
    CHECKSUM_NAME,
    SCHEMES,
    artifact_store_secret,
    artifact_values,
    key_checksum,
    opaque_secret,
    secret_checksum,
)
from infra.aliases import with_previous_type
from infra.config import (
    REGISTRY_FULLNAME,
    REGISTRY_NAMESPACE,
    ArtifactStore,
    GlueServices,
    ImageSettings,
    PlatformConfig,
    PlatformNetwork,
    RegistryAuth,
    registry_service_name,
)
from infra.images import mirrored_ref

#: Chart directory (relative to the repository root).
CHART = ("charts", "kubeai-glue")
#: Resource name prefix of the release; the registry Service is ``<prefix>-registry``.
FULLNAME = REGISTRY_FULLNAME
#: Namespace of the glue services (``platform_outputs(glue_namespace=...)`` default).
NAMESPACE = REGISTRY_NAMESPACE
#: Secret holding the PostgreSQL DSN, and its key (``database.postgresql.secretKey`` default).
DATABASE_SECRET = "kubeai-registry-database"  # noqa: S105 (a Secret name)
DATABASE_SECRET_KEY = "database-url"  # noqa: S105 (a key name)
#: Pulumi type of the component, and the type it had before (as ``Glue``): kept as an alias.
TYPE = "kubeai:addons:ModelRegistry"
PREVIOUS_TYPE = "kubeai:addons:Glue"
#: The platform's team label by default (``PlatformConfig.team_label``).
DEFAULT_TEAM_LABEL: str = PlatformConfig.model_fields["team_label"].default


def network_policy_values(network: PlatformNetwork, team_label: str) -> dict[str, Any]:
    """The chart's ``networkPolicy`` values for the platform's ``kubeai:network`` and team label
    (module docstring)."""
    return {
        "enabled": True,
        "allowSameNamespace": True,
        "namespaceLabelKeys": [team_label],
        "namespaces": sorted({*network.ingress_namespaces, network.monitoring_namespace}),
        "cidrs": sorted(set(network.ingress_cidrs)),
    }


def auth_values(auth: RegistryAuth) -> dict[str, Any]:
    """The chart's ``registry.auth`` values for ``kubeai:glue.auth`` (same keys, camelCase;
    unset optional strings become the chart's empty "off" value)."""
    oidc = auth.oidc
    return {
        "kubernetes": {
            "enabled": auth.kubernetes.enabled,
            "audiences": list(auth.kubernetes.audiences),
            "cacheSeconds": auth.kubernetes.cache_seconds,
        },
        "oidc": {
            "issuer": oidc.issuer or "",
            "audience": oidc.audience,
            "usernameClaim": oidc.username_claim,
            "groupsClaim": oidc.groups_claim,
            "usernamePrefix": oidc.username_prefix,
            "groupsPrefix": oidc.groups_prefix,
            "caConfigMap": oidc.ca_config_map or "",
            "caConfigMapKey": oidc.ca_config_map_key,
        },
        "staticTokens": {
            "existingSecret": auth.static_tokens.existing_secret or "",
            "key": auth.static_tokens.key,
        },
        "admins": auth.admins.model_dump(),
        "bindings": [
            b.model_dump(include={"team", "role", "users", "groups"}) for b in auth.bindings
        ],
        "serviceAccountRole": auth.service_account_role,
        "serviceAccountRoles": dict(auth.service_account_roles),
        "controllers": list(auth.controllers),
        "protectMetrics": auth.protect_metrics,
        "protectDocs": auth.protect_docs,
    }


def controller_values(
    glue: GlueServices, store: ArtifactStore, network: PlatformNetwork, team_label: str
) -> dict[str, Any]:
    """The chart's ``controller`` values for ``kubeai:glue.controller`` (module docstring);
    ``{"enabled": False}`` when it is off."""
    controller = glue.controller
    if not controller.enabled:
        return {"enabled": False}
    account = glue.service_account
    values: dict[str, Any] = {
        "enabled": True,
        "replicas": controller.replicas,
        "teamLabel": team_label,
        "logLevel": controller.log_level,
        "artifactRoot": controller.artifact_root or f"{SCHEMES[store.kind]}://{store.bucket}",
        "resources": controller.resources.manifest(),
        "podAntiAffinity": controller.pod_anti_affinity,
        "serviceAccount": {"annotations": account.all_annotations()},
        "networkPolicy": {"metricsNamespaces": [network.monitoring_namespace]},
    }
    if labels := account.pod_labels():
        values["podLabels"] = labels
    return values


def glue_values(
    glue: GlueServices,
    store: ArtifactStore,
    *,
    database_secret: str = DATABASE_SECRET,
    artifact_secret: str | None = None,
    network: PlatformNetwork | None = None,
    team_label: str = DEFAULT_TEAM_LABEL,
    checksums: Mapping[str, pulumi.Input[str]] | None = None,
    images: ImageSettings | None = None,
) -> dict[str, Any]:
    """Values of ``charts/kubeai-glue`` (module docstring); the image from the
    ``kubeai:images`` mirror when one is set (``infra.images.mirrored``).

    ``database_secret`` names the Secret holding the PostgreSQL DSN (used when ``glue.database``
    is postgresql); ``artifact_secret`` the Secret with static object-store keys, or None;
    ``network`` (default: ``PlatformNetwork()``) and ``team_label`` decide who reaches the registry.
    ``checksums`` the sha256 of those Secrets' data by name (``secret_checksum``).
    """
    account = glue.service_account
    network = network or PlatformNetwork()
    registry: dict[str, Any] = {"replicas": glue.replicas, "auth": auth_values(glue.auth)}
    if labels := account.pod_labels():
        registry["podLabels"] = labels
    mirror = images.registry if images is not None else None
    image = mirrored_ref(f"{glue.image.repository}:{glue.image.tag}", mirror)
    pull_secrets = list(
        dict.fromkeys([*glue.image_pull_secrets, *(images.pull_secrets if images else [])])
    )
    values: dict[str, Any] = {
        "fullnameOverride": FULLNAME,
        "image": {"repository": image.repository, "tag": image.tag},
        "imagePullSecrets": [{"name": name} for name in pull_secrets],
        "serviceAccount": {"annotations": account.all_annotations()},
        "checksums": dict(checksums or {}),
        "registry": registry,
        "database": {"type": glue.database},
        "persistence": {
            "enabled": glue.database == "sqlite",
            "size": glue.storage_size,
            "storageClassName": glue.storage_class or "",
        },
        "artifacts": artifact_values(store, existing_secret=artifact_secret),
        "networkPolicy": network_policy_values(network, team_label),
        "controller": controller_values(glue, store, network, team_label),
    }
    if glue.database == "postgresql":
        values["database"]["postgresql"] = {
            "existingSecret": database_secret,
            "secretKey": DATABASE_SECRET_KEY,
        }
    return values


@dataclass(frozen=True)
class ModelRegistryArgs:
    """Inputs of ``ModelRegistry``.

    ``postgres_dsn`` (secret) is the DSN of a ``glue.database == "postgresql"`` registry: the
    stack config check (``infra.platform.check_platform_secrets``) makes sure it is set;
    ``artifact_keys`` is ``(access key id, secret access key)`` or None; ``network`` and
    ``team_label`` (``kubeai:network``, ``kubeai:teamLabel``) decide who reaches the registry.
    """

    glue: GlueServices
    artifact_store: ArtifactStore
    postgres_dsn: pulumi.Output[str] | None = None
    artifact_keys: tuple[pulumi.Output[str], pulumi.Output[str]] | None = None
    namespace: str = NAMESPACE
    network: PlatformNetwork = field(default_factory=PlatformNetwork)
    team_label: str = DEFAULT_TEAM_LABEL
    images: ImageSettings = field(default_factory=ImageSettings)

    def validate(self) -> None:
        """Raise ``ValueError`` for a bad namespace."""
        check_dns_label(self.namespace, "glue namespace")


class ModelRegistry(pulumi.ComponentResource):
    """The model registry: Namespace, Secrets (DSN, object-store keys), ``kubeai-glue`` Release.

    Attributes: ``namespace``, ``release_name``, ``registry_service`` (``kubeai-registry``) and
    ``release``.
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str]
    registry_service: pulumi.Output[str]

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__(TYPE, name, None, with_previous_type(opts, PREVIOUS_TYPE))
        ns = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="restricted"
        )
        secrets: list[pulumi.Resource] = []
        checksums: dict[str, pulumi.Output[str]] = {}
        if args.postgres_dsn is not None and args.glue.database == "postgresql":
            checksums["database"] = secret_checksum({DATABASE_SECRET_KEY: args.postgres_dsn})
            secrets.append(
                opaque_secret(
                    f"{name}-database",
                    DATABASE_SECRET,
                    ns.metadata.name,
                    {DATABASE_SECRET_KEY: args.postgres_dsn},
                    pulumi.ResourceOptions(parent=self),
                )
            )
        artifact_secret = None
        if args.artifact_keys is not None:
            secrets.append(
                artifact_store_secret(
                    f"{name}-artifact-store", ns.metadata.name, args.artifact_keys, parent=self
                )
            )
            artifact_secret = ARTIFACT_SECRET
            checksums[CHECKSUM_NAME] = key_checksum(args.artifact_keys)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="kubeai-glue",
            chart=repo_path(*CHART),
            namespace=ns.metadata.name,
            values=glue_values(
                args.glue,
                args.artifact_store,
                artifact_secret=artifact_secret,
                network=args.network,
                team_label=args.team_label,
                checksums=checksums,
                images=args.images,
            ),
            **release_settings(ADDON_TIMEOUT_S),
            opts=pulumi.ResourceOptions(parent=self, depends_on=secrets),
        )
        self.namespace = ns.metadata.name
        self.release_name = self.release.name.apply(lambda n: n or "kubeai-glue")
        self.registry_service = pulumi.Output.from_input(registry_service_name(FULLNAME))
        self.register_outputs(
            {
                "namespace": self.namespace,
                "releaseName": self.release_name,
                "registryService": self.registry_service,
            }
        )
