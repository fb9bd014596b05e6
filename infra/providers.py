"""The providers a stack talks through: explicit ones, built from the cluster it targets.

No resource of a KubeAI stack uses an ambient default provider (whatever kubeconfig context or
cloud credentials happen to be current when ``pulumi up`` runs):

* a **platform stack** builds one cloud provider from its ``kubeai:cluster`` block
  (``aws.Provider`` in ``eks.region``, ``gcp.Provider`` in ``gke.project``,
  ``alicloud.Provider`` in ``ack.region``; none for ``existing``) and one Kubernetes provider
  from the cluster itself: for EKS/GKE/ACK a kubeconfig built from a lookup of the cluster
  (``aws.eks.getCluster``, ``gcp.container.getCluster``, ``alicloud.cs.getClusterCredential``:
  API server address and CA) whose user runs the cloud's credential plugin (``aws eks
  get-token``, ``gke-gcloud-auth-plugin``, ``ack-ram-tool credential-plugin get-credential``),
  so the kubeconfig holds no secret and no expiring credential; for ``existing`` the
  ``kubeconfig``/``context`` it names (unset: the ``KUBECONFIG`` of the run, still through an
  explicit provider). It exports these settings as ``kubernetes`` (``OUTPUT``).
* a **team stack** builds its Kubernetes provider from the platform stack's ``kubernetes``
  output, so it reaches the cluster the platform runs on with the platform's settings, and
  ``infra.cluster_identity`` then proves it is the same cluster before anything is created.
* the engine is told to refuse default providers too: every stack file sets
  ``pulumi:disable-default-providers`` to ``infra.config.loading.DEFAULT_PROVIDERS`` (or ``*``), and
  ``infra.config.loading.default_provider_problems`` refuses a stack that does not.

Facts: the exec plugins' arguments are those of ``aws eks update-kubeconfig`` (AWS CLI v2),
GKE's "Install kubectl and configure cluster access" page (``gke-gcloud-auth-plugin`` with
``provideClusterInfo: true``) and AliyunContainerService/ack-ram-tool's ``credential-plugin
get-credential`` (a short-lived client certificate per call).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Cluster

#: Name of the platform stack output with the Kubernetes provider settings team stacks use.
OUTPUT = "kubernetes"
#: Resource name of the explicit Kubernetes provider in both stack kinds.
KUBERNETES_PROVIDER = "kubernetes"
#: Resource name of the explicit cloud provider of a platform stack.
CLOUD_PROVIDER = "cloud"
#: ExecCredential API version the plugins are asked for (client.authentication.k8s.io).
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
#: Lifetime asked of the ACK credential the lookup mints (its minimum; only the server address
#: and CA of the answer are used).
ACK_LOOKUP_MINUTES = 15


def exec_kubeconfig(
    name: str, server: str, ca_data: str, command: str, args: list[str], **extra: Any
) -> str:
    """A one-context kubeconfig (JSON text) whose user runs ``command args`` for credentials.

    ``ca_data`` is the base64 PEM of the API server's CA; ``extra`` adds exec fields
    (``provideClusterInfo``, ``installHint``).
    """
    user: dict[str, Any] = {
        "exec": {
            "apiVersion": EXEC_API_VERSION,
            "command": command,
            "args": args,
            "interactiveMode": "Never",
            **extra,
        }
    }
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return json.dumps(document, indent=2)


def cloud_provider(
    cluster: Cluster, opts: pulumi.ResourceOptions | None = None
) -> pulumi.ProviderResource | None:
    """The explicit cloud provider of a platform stack (None for ``existing`` clusters).

    Credentials stay the cloud SDK's usual ones (environment, profile, instance role); the
    region/project come from the ``kubeai:cluster`` block, never from ambient defaults.
    """
    if cluster.provider == "eks" and cluster.eks is not None:
        import pulumi_aws as aws

        return aws.Provider(CLOUD_PROVIDER, region=cluster.eks.region, opts=opts)
    if cluster.provider == "gke" and cluster.gke is not None:
        import pulumi_gcp as gcp

        return gcp.Provider(CLOUD_PROVIDER, project=cluster.gke.project, opts=opts)
    if cluster.provider == "ack" and cluster.ack is not None:
        import pulumi_alicloud as alicloud

        return alicloud.Provider(CLOUD_PROVIDER, region=cluster.ack.region, opts=opts)
    return None


def _first(items: Any) -> Any:
    return items[0] if items else None


def cluster_kubeconfig(
    cluster: Cluster, cloud: pulumi.ProviderResource | None
) -> pulumi.Output[str] | None:
    """The kubeconfig (JSON text) of an EKS/GKE/ACK cluster, looked up through ``cloud``;
    None for ``existing`` clusters (their kubeconfig is the configured one)."""
    invoke = pulumi.InvokeOutputOptions(provider=cloud) if cloud is not None else None
    if cluster.provider == "eks" and cluster.eks is not None:
        import pulumi_aws as aws

        eks = cluster.eks
        found = aws.eks.get_cluster_output(name=eks.cluster_name, region=eks.region, opts=invoke)
        args = ["eks", "get-token", "--cluster-name", eks.cluster_name, "--region", eks.region]
        args += ["--output", "json"]
        return found.apply(
            lambda c: exec_kubeconfig(
                eks.cluster_name,
                c.endpoint or "",
                getattr(_first(c.certificate_authorities), "data", None) or "",
                "aws",
                args,
            )
        )
    if cluster.provider == "gke" and cluster.gke is not None:
        import pulumi_gcp as gcp

        gke = cluster.gke
        found_gke = gcp.container.get_cluster_output(
            name=gke.cluster_name, location=gke.location, project=gke.project, opts=invoke
        )
        return found_gke.apply(
            lambda c: exec_kubeconfig(
                gke.cluster_name,
                f"https://{c.endpoint}" if c.endpoint else "",
                getattr(_first(c.master_auths), "cluster_ca_certificate", None) or "",
                "gke-gcloud-auth-plugin",
                [],
                provideClusterInfo=True,
                installHint="gcloud components install gke-gcloud-auth-plugin",
            )
        )
    if cluster.provider == "ack" and cluster.ack is not None:
        import pulumi_alicloud as alicloud

        ack = cluster.ack
        found_ack = alicloud.cs.get_cluster_credential_output(
            cluster_id=ack.cluster_id, temporary_duration_minutes=ACK_LOOKUP_MINUTES, opts=invoke
        )
        args = ["credential-plugin", "get-credential", "--cluster-id", ack.cluster_id]
        args += ["--api-version", "v1beta1", "--log-level", "error"]
        return found_ack.apply(
            lambda c: exec_kubeconfig(
                ack.cluster_id,
                ack_server(c.kube_config),
                getattr(_first(c.certificate_authorities), "cluster_cert", None) or "",
                "ack-ram-tool",
                args,
                installHint="https://github.com/AliyunContainerService/ack-ram-tool",
            )
        )
    return None


def ack_server(kube_config: str | None) -> str:
    """The API server address in the kubeconfig ACK's credential lookup returns ("" when
    absent); the credential in it is never used or kept."""
    import yaml

    try:
        document = yaml.safe_load(kube_config or "") or {}
        return str(document["clusters"][0]["cluster"]["server"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        return ""


def platform_settings(
    cluster: Cluster, kubeconfig: pulumi.Output[str] | None
) -> dict[str, pulumi.Input[str | None]]:
    """The platform's Kubernetes provider settings ``{kubeconfig, context}``: the looked-up
    kubeconfig of a cloud cluster, or what ``kubeai:cluster.existing`` names. A configured
    kubeconfig may hold credentials, so it is a Pulumi secret."""
    if kubeconfig is not None:
        return {"kubeconfig": kubeconfig, "context": None}
    existing = cluster.existing
    configured = existing.kubeconfig if existing is not None else None
    return {
        "kubeconfig": pulumi.Output.secret(configured) if configured else None,
        "context": existing.context if existing is not None else None,
    }


def kubernetes_provider(
    settings: pulumi.Input[dict[str, Any] | None], opts: pulumi.ResourceOptions | None = None
) -> k8s.Provider:
    """The explicit Kubernetes provider for ``{kubeconfig, context}`` settings (an Output when
    they come from a platform stack's ``kubernetes`` output; None or missing keys: the run's
    ``KUBECONFIG`` and its current context)."""
    given = pulumi.Output.from_input(settings)
    return k8s.Provider(
        KUBERNETES_PROVIDER,
        kubeconfig=given.apply(lambda s: (s or {}).get("kubeconfig")),
        context=given.apply(lambda s: (s or {}).get("context")),
        opts=opts,
    )
