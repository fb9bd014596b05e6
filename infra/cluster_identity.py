"""Which Kubernetes cluster a stack talks to: the UID of its ``kube-system`` Namespace.

A cluster has no name of its own in the API (context and cluster names live only in
kubeconfigs), but ``kube-system`` exists from the cluster's creation until its end and its
``metadata.uid`` is unique: OpenTelemetry's semantic conventions define ``k8s.cluster.uid`` the
same way. A platform stack exports it as ``clusterUid``; a team stack reads the same value with
its own Kubernetes provider and refuses to run when the two differ (its kubeconfig or
``kubernetes:context`` points at another cluster than its platform stack), before it creates
anything.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

#: Name of the platform stack output holding the cluster UID.
OUTPUT = "clusterUid"
#: The Namespace whose UID identifies the cluster.
KUBE_SYSTEM = "kube-system"
#: Resource name of the read (``Namespace.get``) in both stack kinds.
RESOURCE_NAME = "cluster-identity"


def cluster_uid(opts: pulumi.ResourceOptions | None = None) -> pulumi.Output[str]:
    """The UID of the ``kube-system`` Namespace, read (never created or deleted) through the
    provider in ``opts`` (the default provider when none)."""
    namespace = k8s.core.v1.Namespace.get(RESOURCE_NAME, KUBE_SYSTEM, opts=opts)
    return namespace.metadata.apply(_uid)


def _uid(metadata: k8s.meta.v1.outputs.ObjectMeta | None) -> str:
    """``metadata.uid``, or "" when unknown (offline render: the mocks return no metadata)."""
    return "" if metadata is None or metadata.uid is None else str(metadata.uid)


def different_cluster(platform_stack: str, platform_uid: object, own_uid: object) -> str | None:
    """Why a team stack must not run against its platform stack, or None when it may.

    ``platform_uid`` is the platform stack's ``clusterUid`` output (None or empty from a platform
    stack exported before it existed: nothing to compare), ``own_uid`` what the team stack's
    provider reads.
    """
    if not platform_uid or not own_uid or platform_uid == own_uid:
        return None
    return (
        f"platform stack {platform_stack!r} runs on the cluster whose {KUBE_SYSTEM} Namespace has "
        f"uid {platform_uid}, but this stack's Kubernetes provider reaches another cluster ("
        f"{KUBE_SYSTEM} uid {own_uid}): point KUBECONFIG or kubernetes:context at the platform's "
        "cluster, or set kubeai:platformStack to the platform stack of this cluster"
    )
