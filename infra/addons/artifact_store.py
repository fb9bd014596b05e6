"""The platform artifact store as every add-on and team stack refers to it: one set of names.

Static object-store keys (the Pulumi secrets ``kubeai:artifactStoreAccessKeyId`` and
``kubeai:artifactStoreSecretAccessKey``, ``KEY_SECRETS``) go into the Secret ``ARTIFACT_SECRET``
with the keys ``ARTIFACT_SECRET_ACCESS_KEY``/``ARTIFACT_SECRET_SECRET_KEY`` in each namespace that
needs them: the registry's (``infra.addons.model_registry``) and each team's (Argo reads it from
the workflow's namespace, inference services mount it). Without static keys the SDK's credential
chain applies (IRSA, Workload Identity, RRSA). ``artifact_values`` is the ``artifacts`` block of
the kubeai-glue and triton-inference charts.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ArtifactStore

# Names of a Secret and its keys, not credentials:
ARTIFACT_SECRET = "kubeai-artifact-store"  # noqa: S105
ARTIFACT_SECRET_ACCESS_KEY = "access-key-id"  # noqa: S105
ARTIFACT_SECRET_SECRET_KEY = "secret-access-key"  # noqa: S105
#: The stack's Pulumi secrets holding static keys: (access key id, secret access key).
KEY_SECRETS = ("artifactStoreAccessKeyId", "artifactStoreSecretAccessKey")
#: Artifact URI scheme each store kind serves.
SCHEMES = {"s3": "s3", "minio": "s3", "oss": "oss", "gcs": "gs"}


def static_keys(
    secrets: dict[str, pulumi.Output[str]],
) -> tuple[pulumi.Output[str], pulumi.Output[str]] | None:
    """``(access key id, secret access key)`` from a stack's secrets, or None without both."""
    if not all(key in secrets for key in KEY_SECRETS):
        return None
    return secrets[KEY_SECRETS[0]], secrets[KEY_SECRETS[1]]


def artifact_values(store: ArtifactStore, *, existing_secret: str | None) -> dict[str, Any]:
    """The ``artifacts`` block shared by the kubeai-glue and triton-inference charts.

    ``existing_secret`` names a Secret with static keys (``access-key-id``/``secret-access-key``)
    or is None for the SDK credential chain.
    """
    out: dict[str, Any] = {"allowedSchemes": [SCHEMES[store.kind]]}
    if store.kind == "gcs":
        out["gcs"] = {"token": "google_default"}
        return out
    block: dict[str, Any] = {}
    if store.endpoint_url:
        block["endpointUrl"] = store.endpoint_url
    if store.region:
        block["region"] = store.region
    if store.kind == "minio":
        block["addressingStyle"] = "path"
    if existing_secret:
        block["existingSecret"] = existing_secret
        block["accessKeyIdKey"] = ARTIFACT_SECRET_ACCESS_KEY
        block["secretAccessKeyKey"] = ARTIFACT_SECRET_SECRET_KEY
    out["oss" if store.kind == "oss" else "s3"] = block
    return out


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
