"""Node autoscaling and the resource metrics API: GPU pools grow from zero when pods wait.

GPU pools are declared with ``minSize: 0``; something must add a node when a pod that needs
one is Pending (``kubeai:addons.clusterAutoscaler``, ``ClusterAutoscalerAddon``):

* **EKS**: the upstream cluster-autoscaler (chart ``versions.CLUSTER_AUTOSCALER``, image tag of
  the cluster's Kubernetes minor) in ``kube-system``, with ``autoDiscovery.clusterName``: EKS
  managed node groups tag their Auto Scaling groups ``k8s.io/cluster-autoscaler/enabled`` and
  ``k8s.io/cluster-autoscaler/<cluster>`` themselves, so every pool of ``infra.node_pools.eks``
  is found. Scaling a group up from zero needs the labels and taints its nodes will carry; for
  managed node groups the autoscaler reads them from ``eks:DescribeNodegroup`` (cluster-autoscaler
  ``cloudprovider/aws/README.md``, "Scaling a node group to 0") and derives ``nvidia.com/gpu``
  from the instance type. Its ServiceAccount carries the IRSA role ``roleArn``.
  Arguments: ``expander``, ``balance-similar-node-groups`` (spread a gang over equal pools),
  ``skip-nodes-with-local-storage=false`` (emptyDir caches do not pin nodes forever),
  ``scale-down-unneeded-time``, ``max-node-provision-time=15m`` (a GPU node plus its driver).
* **ACK**: the managed autoscaler's settings (``alicloud.cs.AutoscalingConfig``: scaler
  ``cluster-autoscaler``, ``scale_up_from_zero``, the expander, scale-down delay); node pools
  are created with ``scaling_config.enable`` (``infra.node_pools.ack``).
* **GKE**: nothing to install; every pool is created with node-pool autoscaling
  (``infra.node_pools.gke``), which GKE's own autoscaler serves.
* **existing**: nothing (the cluster's owner scales it).

metrics-server (``kubeai:addons.metricsServer``; HorizontalPodAutoscalers of inference services
need it): chart ``versions.METRICS_SERVER`` in ``kube-system`` where the cloud does not run one
(EKS by default).

Images: both from the ``kubeai:images`` mirror when set (``infra.images``), with the charts'
pull-secret values (cluster-autoscaler ``image.pullSecrets``, metrics-server
``imagePullSecrets``: a list of names and a list of ``{name: ...}`` respectively, as the
charts' templates read them).

Both charts are cloud-side add-ons installed from their chart repositories at pinned versions
and images (``versions.RepositoryChart``); ``chart.repository``/``chart.path`` point them at a
mirror. The control-plane tests do not install them: the autoscaler needs the cloud's API and
metrics-server an aggregated API server, neither of which KWOK nodes can run.

``kubeai:addons.clusterAutoscaler.values`` and ``kubeai:addons.metricsServer.values`` are merged
over the computed values (``infra.addons.values``). With no local copy of these charts (unless
``chart.path`` names one) the program checks only the protected keys (``AUTOSCALER_PROTECTED``:
the cluster it manages, the IRSA identity and its ServiceAccount, the image tag tied to the
cluster's minor, and the arguments typed config keys state; ``METRICS_SERVER_PROTECTED``: the
APIService and RBAC without which metrics-server serves nothing); Helm checks the rest against
the chart at ``pulumi up``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.addons import ADDON_TIMEOUT_S, release_settings, repo_path, repository_args
from infra.addons.values import KeyPath, ReleaseValues
from infra.config import (
    ChartSource,
    Cluster,
    ClusterAutoscalerAddon,
    ImageSettings,
    MetricsServerAddon,
)
from infra.images import mirrored_ref, mirrored_repository, pull_secret_list

#: Namespace of both releases (cluster add-ons live with the system components).
NAMESPACE = "kube-system"
#: ServiceAccount of the cluster-autoscaler (the IRSA role's trust policy names it).
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
#: IRSA annotation on a ServiceAccount (EKS pod identity webhook).
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
#: Longest a new node may take to become Ready before the autoscaler gives up on it.
MAX_NODE_PROVISION = "15m"


def repository_chart_args(chart: versions.RepositoryChart, source: ChartSource) -> dict[str, Any]:
    """``helm.v3.Release`` arguments for ``chart`` at its pinned version: from its repository,
    a mirror (``source.repository``) or a local chart (``source.path``)."""
    if source.path:
        return {"chart": repo_path(source.path), "version": chart.version}
    return repository_args(chart.name, chart.version, source.repository or chart.repository)


def autoscaler_values(
    cluster: Cluster, config: ClusterAutoscalerAddon, images: ImageSettings | None = None
) -> dict[str, Any]:
    """Values of the ``cluster-autoscaler`` chart on an EKS ``cluster`` (module docstring);
    ``images`` (``kubeai:images``): the image from the mirror, ``image.pullSecrets``.

    Raises ``ValueError`` for a non-EKS cluster or a Kubernetes minor without a pinned image.
    """
    if cluster.eks is None:
        raise ValueError("the cluster-autoscaler release is for EKS clusters")
    tag = versions.CLUSTER_AUTOSCALER_IMAGE_TAGS.get(cluster.kubernetes_version)
    if tag is None:
        raise ValueError(
            f"no pinned cluster-autoscaler for Kubernetes {cluster.kubernetes_version}"
        )
    annotations = {IRSA_ANNOTATION: config.role_arn} if config.role_arn else {}
    settings = images or ImageSettings()
    repository = mirrored_repository(versions.CLUSTER_AUTOSCALER.image, settings.registry)
    image: dict[str, Any] = {"repository": repository, "tag": tag}
    if settings.pull_secrets:
        image["pullSecrets"] = pull_secret_list(settings.pull_secrets, "names")
    return {
        "cloudProvider": "aws",
        "awsRegion": cluster.eks.region,
        "autoDiscovery": {"clusterName": cluster.eks.cluster_name},
        "image": image,
        "rbac": {
            "serviceAccount": {
                "create": True,
                "name": AUTOSCALER_SERVICE_ACCOUNT,
                "annotations": annotations,
            }
        },
        "extraArgs": {
            "expander": config.expander,
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "scale-down-unneeded-time": f"{config.scale_down_unneeded_minutes}m",
            "max-node-provision-time": MAX_NODE_PROVISION,
        },
        "priorityClassName": "system-cluster-critical",
    }


def ack_autoscaling_args(cluster: Cluster, config: ClusterAutoscalerAddon) -> dict[str, Any]:
    """Keyword arguments of ``alicloud.cs.AutoscalingConfig`` for an ACK ``cluster``."""
    if cluster.ack is None:
        raise ValueError("the ACK autoscaler settings are for ACK clusters")
    return {
        "cluster_id": cluster.ack.cluster_id,
        "scaler_type": "cluster-autoscaler",
        "expander": config.expander,
        "scale_up_from_zero": True,
        "scale_down_enabled": True,
        "unneeded_duration": f"{config.scale_down_unneeded_minutes}m",
        "skip_nodes_with_local_storage": False,
    }


def metrics_server_values(images: ImageSettings | None = None) -> dict[str, Any]:
    """Values of the ``metrics-server`` chart: the pinned image (from the ``kubeai:images``
    mirror when set) and ``imagePullSecrets``."""
    settings = images or ImageSettings()
    ref = mirrored_ref(versions.METRICS_SERVER.image, settings.registry)
    values: dict[str, Any] = {"image": {"repository": ref.repository, "tag": ref.tag}}
    if settings.pull_secrets:
        values["imagePullSecrets"] = pull_secret_list(settings.pull_secrets, "objects")
    return values


#: Values of the cluster-autoscaler chart ``kubeai:addons.clusterAutoscaler.values`` may not set.
AUTOSCALER_PROTECTED: dict[KeyPath, str] = {
    ("cloudProvider",): "the platform's cluster is on EKS (kubeai:cluster.provider)",
    ("awsRegion",): "the cluster's region (kubeai:cluster.eks.region)",
    ("autoDiscovery", "clusterName"): (
        "the autoscaler manages the node groups of the platform's own cluster "
        "(kubeai:cluster.eks.clusterName)"
    ),
    ("rbac", "serviceAccount", "create"): (
        "the chart creates the ServiceAccount that carries the IRSA role (name and annotations "
        "below); without it the autoscaler runs without AWS permissions"
    ),
    ("rbac", "serviceAccount", "name"): "the IRSA role's trust policy names this ServiceAccount",
    ("rbac", "serviceAccount", "annotations"): (
        "carries the IRSA role: set kubeai:addons.clusterAutoscaler.roleArn"
    ),
    ("image", "tag"): (
        "follows the cluster's Kubernetes minor (kubeai:cluster.kubernetesVersion), as the "
        "config checks"
    ),
    ("extraArgs", "expander"): "set kubeai:addons.clusterAutoscaler.expander",
    ("extraArgs", "scale-down-unneeded-time"): (
        "set kubeai:addons.clusterAutoscaler.scaleDownUnneededMinutes"
    ),
}


#: Values of the metrics-server chart ``kubeai:addons.metricsServer.values`` may not set (keys of
#: the chart in sigs.k8s.io/metrics-server v0.8.0, charts/metrics-server/values.yaml).
METRICS_SERVER_PROTECTED: dict[KeyPath, str] = {
    ("apiService", "create"): (
        "the v1beta1.metrics.k8s.io APIService is how the API server reaches metrics-server: "
        "without it the HorizontalPodAutoscalers and kubectl top get no metrics"
    ),
    ("rbac", "create"): (
        "the ClusterRoles let metrics-server read the nodes' and pods' metrics; without them "
        "it serves none"
    ),
}


def autoscaler_release_values(
    cluster: Cluster, config: ClusterAutoscalerAddon, images: ImageSettings | None = None
) -> ReleaseValues:
    """The cluster-autoscaler Release's values: ``autoscaler_values`` with
    ``kubeai:addons.clusterAutoscaler.values`` over them (``infra.addons.values``)."""
    computed = autoscaler_values(cluster, config, images)
    registry = images.registry if images else None
    return ReleaseValues.of(
        "clusterAutoscaler",
        versions.CLUSTER_AUTOSCALER,
        config,
        computed,
        AUTOSCALER_PROTECTED,
        registry,
    )


def metrics_server_release_values(
    config: MetricsServerAddon, images: ImageSettings | None = None
) -> ReleaseValues:
    """The metrics-server Release's values: ``metrics_server_values`` with
    ``kubeai:addons.metricsServer.values`` over them (``METRICS_SERVER_PROTECTED``)."""
    return ReleaseValues.of(
        "metricsServer",
        versions.METRICS_SERVER,
        config,
        metrics_server_values(images),
        METRICS_SERVER_PROTECTED,
        images.registry if images else None,
    )


@dataclass(frozen=True)
class NodeAutoscalingArgs:
    """Inputs of ``NodeAutoscaling``: the cluster, the two add-on configs and whether
    metrics-server is installed (``PlatformConfig.metrics_server_enabled``)."""

    cluster: Cluster
    autoscaler: ClusterAutoscalerAddon
    metrics_server: MetricsServerAddon
    install_metrics_server: bool
    images: ImageSettings = field(default_factory=ImageSettings)


class NodeAutoscaling(pulumi.ComponentResource):
    """The cluster-autoscaler release (EKS) or the managed autoscaler's settings (ACK), and
    metrics-server where wanted (module docstring).

    Attributes: ``autoscaler`` (the Release, the ``AutoscalingConfig`` or None),
    ``metrics_server`` (the Release or None).
    """

    def __init__(
        self, name: str, args: NodeAutoscalingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kubeai:addons:NodeAutoscaling", name, None, opts)
        cluster, config = args.cluster, args.autoscaler
        child = pulumi.ResourceOptions(parent=self)
        self.autoscaler: pulumi.CustomResource | None = None
        if config.enabled and cluster.provider == "eks":
            self.autoscaler = k8s.helm.v3.Release(
                f"{name}-cluster-autoscaler",
                name=versions.CLUSTER_AUTOSCALER.name,
                namespace=NAMESPACE,
                values=autoscaler_release_values(cluster, config, args.images).release_input(self),
                **release_settings(ADDON_TIMEOUT_S),
                **repository_chart_args(versions.CLUSTER_AUTOSCALER, config.chart),
                opts=child,
            )
        elif config.enabled and cluster.provider == "ack":
            import pulumi_alicloud as alicloud

            self.autoscaler = alicloud.cs.AutoscalingConfig(
                f"{name}-ack", **ack_autoscaling_args(cluster, config), opts=child
            )
        self.metrics_server: k8s.helm.v3.Release | None = None
        if args.install_metrics_server:
            self.metrics_server = k8s.helm.v3.Release(
                f"{name}-metrics-server",
                name=versions.METRICS_SERVER.name,
                namespace=NAMESPACE,
                values=metrics_server_release_values(
                    args.metrics_server, args.images
                ).release_input(self),
                **release_settings(ADDON_TIMEOUT_S),
                **repository_chart_args(versions.METRICS_SERVER, args.metrics_server.chart),
                opts=child,
            )
        self.register_outputs({})
