"""The platform artifact store as every add-on and team stack refers to it: one set of names.

Static object-store keys (the Pulumi secrets ``kubeai:artifactStoreAccessKeyId`` and
``kubeai:artifactStoreSecretAccessKey``, ``KEY_SECRETS``) go into the Secret ``ARTIFACT_SECRET``
with the keys ``ARTIFACT_SECRET_ACCESS_KEY``/``ARTIFACT_SECRET_SECRET_KEY`` in each namespace that
needs them: the registry's (``infra.addons.model_registry``) and each team's (Argo reads it from
the workflow's namespace, inference services mount it). Without static keys the SDK's credential
chain applies (IRSA, Workload Identity, RRSA). ``artifact_values`` is the ``artifacts`` block of
the kubeai-glue and triton-inference charts.

``opaque_secret`` is the one writer of the stacks' Pulumi secrets into Secrets. Secret changes
roll the pods that read them: ``secret_checksum`` is the sha256 of a Secret's data
that the charts put in the pod annotation ``checksum/<name>`` (values key ``checksums``;
``CHECKSUM_NAME`` for this Secret).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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
#: Key of the Secret's checksum in the charts' ``checksums`` value (pod annotation
#: ``checksum/artifact-store``).
CHECKSUM_NAME = "artifact-store"
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


def opaque_secret(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """An ``Opaque`` Secret ``name`` in ``namespace`` holding ``data`` (``stringData``): the one
    way the stacks write Pulumi secrets into the cluster (object-store keys, the registry's DSN,
    dataset credentials)."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        type="Opaque",
        string_data=dict(data),
        opts=opts,
    )


def artifact_store_secret(
    resource_name: str,
    namespace: pulumi.Input[str],
    keys: tuple[pulumi.Output[str], pulumi.Output[str]],
    *,
    parent: pulumi.Resource,
) -> k8s.core.v1.Secret:
    """The ``kubeai-artifact-store`` Secret (static object-store keys) in ``namespace``."""
    return opaque_secret(
        resource_name,
        ARTIFACT_SECRET,
        namespace,
        key_data(keys),
        pulumi.ResourceOptions(parent=parent),
    )


def key_data(keys: tuple[pulumi.Output[str], pulumi.Output[str]]) -> dict[str, pulumi.Output[str]]:
    """The data of ``ARTIFACT_SECRET`` made from ``keys`` (access key id, secret access key)."""
    return {ARTIFACT_SECRET_ACCESS_KEY: keys[0], ARTIFACT_SECRET_SECRET_KEY: keys[1]}


def checksum(data: Mapping[str, str]) -> str:
    """sha256 (hex) of a Secret's ``data`` (keys sorted): it changes exactly when the data does."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


def secret_checksum(data: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """``checksum`` of a Secret's data given as (secret) Outputs, for the charts' ``checksums``.

    The digest is returned unsecret: it reveals nothing usable of high-entropy keys and is shown
    in the pod annotation anyway (as with Helm's own ``sha256sum`` pattern), and keeping it plain
    keeps the Release's other values readable in diffs.
    """
    keys = sorted(data)
    digest = pulumi.Output.all(*(data[k] for k in keys)).apply(
        lambda values: checksum(dict(zip(keys, (str(v) for v in values), strict=True)))
    )
    return pulumi.Output.unsecret(digest)


def key_checksum(keys: tuple[pulumi.Output[str], pulumi.Output[str]]) -> pulumi.Output[str]:
    """``secret_checksum`` of the ``ARTIFACT_SECRET`` made from ``keys`` (``static_keys``)."""
    return secret_checksum(key_data(keys))
