"""GKE node pools (``pulumi_gcp.container.NodePool``) in an existing GKE cluster.

* GPUs: ``node_config.guest_accelerators`` = ``[{type: gpuType, count: gpusPerNode,
  gpu_driver_installation_config: {gpu_driver_version: DEFAULT}}]``; GKE installs the driver
  (managed drivers) and runs its own device plugin, so ``gpu_mode`` ``auto`` installs none, and
  config refuses ``devicePlugin``/``gpuOperator`` on GKE (``kubeai:addons.gpu.mode``): the pools
  keep GKE's device plugin (no ``gke-no-default-nvidia-gpu-device-plugin`` label), which a second
  one would duplicate.
* ``autoscaling`` with ``total_min_node_count``/``total_max_node_count`` (the pool's sizes are
  totals across zones, not per zone); ``initial_node_count`` = minSize (per zone at creation;
  later changes are the autoscaler's and ignored).
* ``node_config.spot`` for spot pools; ``labels`` = effective labels; ``taints`` = effective
  taints in GKE spelling (``NO_SCHEDULE``...). GKE itself also taints GPU pools with
  ``nvidia.com/gpu=present:NoSchedule`` when the cluster has CPU pools, which is our default.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import Cluster, NodePool
from infra.node_pools.eks import EFFECTS

#: GKE driver version selector (``DEFAULT`` = the version GKE pins for the node image).
GPU_DRIVER_VERSION = "DEFAULT"
OAUTH_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def taints(pool: NodePool) -> list[dict[str, str]]:
    """The pool's taints in GKE form (``key``, ``value``, ``effect`` NO_SCHEDULE...)."""
    return [
        {"key": t.key, "value": t.value, "effect": EFFECTS[t.effect]} for t in pool.effective_taints
    ]


def guest_accelerators(pool: NodePool) -> list[dict[str, Any]]:
    """``node_config.guest_accelerators`` of a GPU pool (empty for CPU pools)."""
    if not pool.is_gpu:
        return []
    return [
        {
            "type": pool.gpu_type,
            "count": pool.gpus_per_node,
            "gpu_driver_installation_config": {"gpu_driver_version": GPU_DRIVER_VERSION},
        }
    ]


def node_pool_args(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    """Keyword arguments of ``gcp.container.NodePool`` for ``pool`` (plain values)."""
    gke = cluster.gke
    if gke is None:
        raise ValueError("kubeai:cluster.gke is required for provider gke")
    return {
        "project": gke.project,
        "location": gke.location,
        "cluster": gke.cluster_name,
        "name": pool.name,
        "initial_node_count": pool.min_size,
        "autoscaling": {
            "total_min_node_count": pool.min_size,
            "total_max_node_count": pool.max_size,
            "location_policy": "ANY" if pool.capacity_type == "spot" else "BALANCED",
        },
        "management": {"auto_repair": True, "auto_upgrade": True},
        "node_config": {
            "machine_type": pool.instance_type,
            "disk_size_gb": pool.disk_size_gb,
            "spot": pool.capacity_type == "spot",
            "labels": pool.effective_labels,
            "taints": taints(pool),
            "guest_accelerators": guest_accelerators(pool),
            "oauth_scopes": list(OAUTH_SCOPES),
        },
    }


def provision(
    name: str, cluster: Cluster, pool: NodePool, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Create the node pool (child ``<name>-node-pool``); return its id."""
    import pulumi_gcp as gcp

    c = gcp.container
    args = node_pool_args(cluster, pool)
    node = args["node_config"]
    accelerators = [
        c.NodePoolNodeConfigGuestAcceleratorArgs(
            type=a["type"],
            count=a["count"],
            gpu_driver_installation_config=(
                c.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                    **a["gpu_driver_installation_config"]
                )
            ),
        )
        for a in node["guest_accelerators"]
    ]
    node_pool = c.NodePool(
        f"{name}-node-pool",
        project=args["project"],
        location=args["location"],
        cluster=args["cluster"],
        name=args["name"],
        initial_node_count=args["initial_node_count"],
        autoscaling=c.NodePoolAutoscalingArgs(**args["autoscaling"]),
        management=c.NodePoolManagementArgs(**args["management"]),
        node_config=c.NodePoolNodeConfigArgs(
            machine_type=node["machine_type"],
            disk_size_gb=node["disk_size_gb"],
            spot=node["spot"],
            labels=node["labels"],
            taints=[c.NodePoolNodeConfigTaintArgs(**t) for t in node["taints"]],
            guest_accelerators=accelerators,
            oauth_scopes=node["oauth_scopes"],
        ),
        opts=pulumi.ResourceOptions(
            parent=parent, ignore_changes=["initialNodeCount", "nodeCount"]
        ),
    )
    return node_pool.id
