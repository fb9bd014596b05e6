"""The KubeAI glue services: our chart ``charts/kubeai-glue`` (the model registry and its wiring).

Values (``glue_values``, the one builder of this chart's values; keys from
charts/kubeai-glue/values.yaml):

* ``fullnameOverride: kubeai`` -> the registry Service ``kubeai-registry`` that
  ``PlatformOutputs.registry_url`` names (``http://kubeai-registry.<namespace>.svc:8080``);
* ``image.repository``/``image.tag`` from ``kubeai:glue.image`` (required, never ``latest``);
* database: SQLite on a PersistentVolumeClaim by default (``persistence.*``, one replica); with
  ``kubeai:glue.database: postgresql`` the DSN comes from the Pulumi secret
  ``kubeai:postgresDsn``, stored in the Secret ``kubeai-registry-database`` that the release
  references (``database.postgresql.existingSecret``), so the DSN never appears in Helm values;
* ``artifacts.*``: the platform object store; static keys (``kubeai:artifactStoreAccessKeyId`` /
  ``SecretAccessKey``) go into the Secret ``kubeai-artifact-store`` (``existingSecret``),
  otherwise the SDK's credential chain applies (IRSA, Workload Identity, RRSA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.addons import check_dns_label, create_namespace, repo_path
from infra.addons.argo import (
    ARTIFACT_SECRET,
    ARTIFACT_SECRET_ACCESS_KEY,
    ARTIFACT_SECRET_SECRET_KEY,
)
from infra.config import GlueServices

#: Chart directory (relative to the repository root).
CHART = ("charts", "kubeai-glue")
#: Resource name prefix of the release; the registry Service is ``<prefix>-registry``.
FULLNAME = "kubeai"
#: Namespace of the glue services (``platform_outputs(glue_namespace=...)`` default).
NAMESPACE = "kubeai-system"
#: Secret holding the PostgreSQL DSN, and its key (``database.postgresql.secretKey`` default).
DATABASE_SECRET = "kubeai-registry-database"  # noqa: S105 (a Secret name)
DATABASE_SECRET_KEY = "database-url"  # noqa: S105 (a key name)
#: Artifact URI scheme each store kind serves.
SCHEMES = {"s3": "s3", "minio": "s3", "oss": "oss", "gcs": "gs"}


def artifact_values(store: dict[str, Any], *, existing_secret: str | None) -> dict[str, Any]:
    """The ``artifacts`` block shared by the kubeai-glue and triton-inference charts.

    ``store`` is the platform artifact store in stack-file form (``kind``, ``bucket``,
    ``endpointUrl``, ``region``); ``existing_secret`` names a Secret with static keys
    (``access-key-id``/``secret-access-key``) or is None for the SDK credential chain.
    """
    kind = store["kind"]
    out: dict[str, Any] = {"allowedSchemes": [SCHEMES[kind]]}
    if kind == "gcs":
        out["gcs"] = {"token": "google_default"}
        return out
    block: dict[str, Any] = {}
    if store.get("endpointUrl"):
        block["endpointUrl"] = store["endpointUrl"]
    if store.get("region"):
        block["region"] = store["region"]
    if kind == "minio":
        block["addressingStyle"] = "path"
    if existing_secret:
        block["existingSecret"] = existing_secret
        block["accessKeyIdKey"] = ARTIFACT_SECRET_ACCESS_KEY
        block["secretAccessKeyKey"] = ARTIFACT_SECRET_SECRET_KEY
    out["oss" if kind == "oss" else "s3"] = block
    return out


def glue_values(
    glue: GlueServices,
    store: dict[str, Any],
    *,
    database_secret: str | None = None,
    artifact_secret: str | None = None,
) -> dict[str, Any]:
    """Values of ``charts/kubeai-glue`` (module docstring). Raises ``ValueError`` when
    ``glue.database`` is postgresql and no ``database_secret`` is given."""
    values: dict[str, Any] = {
        "fullnameOverride": FULLNAME,
        "image": {"repository": glue.image.repository, "tag": glue.image.tag},
        "registry": {"replicas": glue.replicas},
        "database": {"type": glue.database},
        "persistence": {
            "enabled": glue.database == "sqlite",
            "size": glue.storage_size,
            "storageClassName": glue.storage_class or "",
        },
        "artifacts": artifact_values(store, existing_secret=artifact_secret),
    }
    if glue.database == "postgresql":
        if not database_secret:
            raise ValueError("a PostgreSQL registry needs the DSN Secret (kubeai:postgresDsn)")
        values["database"]["postgresql"] = {
            "existingSecret": database_secret,
            "secretKey": DATABASE_SECRET_KEY,
        }
    return values


@dataclass(frozen=True)
class GlueArgs:
    """Inputs of ``Glue``.

    ``postgres_dsn`` (secret) is required for ``glue.database == "postgresql"``;
    ``artifact_keys`` is ``(access key id, secret access key)`` or None.
    """

    glue: GlueServices
    artifact_store: dict[str, Any]
    postgres_dsn: pulumi.Output[str] | None = None
    artifact_keys: tuple[pulumi.Output[str], pulumi.Output[str]] | None = None
    namespace: str = NAMESPACE

    def validate(self) -> None:
        """Raise ``ValueError`` for a missing DSN, an unknown store kind or a bad namespace."""
        check_dns_label(self.namespace, "glue namespace")
        if self.glue.database == "postgresql" and self.postgres_dsn is None:
            raise ValueError(
                "kubeai:glue.database is postgresql but the secret kubeai:postgresDsn is not set "
                "(pulumi config set --secret kubeai:postgresDsn ...)"
            )
        if self.artifact_store.get("kind") not in SCHEMES:
            raise ValueError(f"unknown artifact store kind {self.artifact_store.get('kind')!r}")


class Glue(pulumi.ComponentResource):
    """Namespace, Secrets (DSN, object-store keys) and the ``kubeai-glue`` Release.

    Attributes: ``namespace``, ``release_name``, ``registry_service`` (``kubeai-registry``) and
    ``release``.
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str]
    registry_service: pulumi.Output[str]

    def __init__(
        self, name: str, args: GlueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:Glue", name, None, opts)
        ns = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="restricted"
        )
        secrets: list[pulumi.Resource] = []
        database_secret = None
        if args.postgres_dsn is not None and args.glue.database == "postgresql":
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-database",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=DATABASE_SECRET, namespace=ns.metadata.name
                    ),
                    type="Opaque",
                    string_data={DATABASE_SECRET_KEY: args.postgres_dsn},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            database_secret = DATABASE_SECRET
        artifact_secret = None
        if args.artifact_keys is not None:
            secrets.append(
                artifact_store_secret(
                    f"{name}-artifact-store", ns.metadata.name, args.artifact_keys, parent=self
                )
            )
            artifact_secret = ARTIFACT_SECRET
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="kubeai-glue",
            chart=repo_path(*CHART),
            namespace=ns.metadata.name,
            values=glue_values(
                args.glue,
                args.artifact_store,
                database_secret=database_secret,
                artifact_secret=artifact_secret,
            ),
            max_history=10,
            opts=pulumi.ResourceOptions(parent=self, depends_on=secrets),
        )
        self.namespace = ns.metadata.name
        self.release_name = self.release.name.apply(lambda n: n or "kubeai-glue")
        self.registry_service = pulumi.Output.from_input(f"{FULLNAME}-registry")
        self.register_outputs(
            {
                "namespace": self.namespace,
                "releaseName": self.release_name,
                "registryService": self.registry_service,
            }
        )


def artifact_store_secret(
    resource_name: str,
    namespace: pulumi.Input[str],
    keys: tuple[pulumi.Output[str], pulumi.Output[str]],
    *,
    parent: pulumi.Resource,
) -> k8s.core.v1.Secret:
    """The ``kubeai-artifact-store`` Secret (static object-store keys) in ``namespace``."""
    access_key, secret_key = keys
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=ARTIFACT_SECRET, namespace=namespace),
        type="Opaque",
        string_data={
            ARTIFACT_SECRET_ACCESS_KEY: access_key,
            ARTIFACT_SECRET_SECRET_KEY: secret_key,
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
