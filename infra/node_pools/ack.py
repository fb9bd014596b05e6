"""Alibaba Cloud ACK node pools (``pulumi_alicloud.cs.NodePool``) in an existing ACK cluster.

* ``instance_types`` = the pool's instance type (a GPU family such as ``ecs.gn7i-c8g1.2xlarge``
  for GPU pools; ACK installs the NVIDIA driver and its own device plugin on GPU instance types,
  so ``gpu_mode`` ``auto`` installs none).
* ``scaling_config`` ``{enable: true, min_size, max_size}`` (the cluster autoscaler of ACK
  manages the count); ``spot_strategy`` ``SpotAsPriceGo`` for spot pools, ``NoSpot`` otherwise.
* ``labels`` and ``taints`` as ``[{key, value(, effect)}]`` (Kubernetes effect spelling).
* The region comes from ``kubeai:cluster.ack.region`` through an explicit ``alicloud``
  provider (child ``<name>-alicloud``), since ``cs.NodePool`` has no region argument.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.config import Cluster, NodePool

SYSTEM_DISK_CATEGORY = "cloud_essd"


def labels(pool: NodePool) -> list[dict[str, str]]:
    """The pool's effective labels as ACK ``[{key, value}]`` (sorted by key)."""
    return [{"key": k, "value": v} for k, v in sorted(pool.effective_labels.items())]


def taints(pool: NodePool) -> list[dict[str, str]]:
    """The pool's effective taints as ACK ``[{key, value, effect}]``."""
    return [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.effective_taints]


def node_pool_args(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    """Keyword arguments of ``alicloud.cs.NodePool`` for ``pool`` (plain values)."""
    ack = cluster.ack
    if ack is None:
        raise ValueError("kubeai:cluster.ack is required for provider ack")
    return {
        "cluster_id": ack.cluster_id,
        "node_pool_name": f"{cluster.name}-{pool.name}",
        "vswitch_ids": list(ack.vswitch_ids),
        "instance_types": [pool.instance_type],
        "instance_charge_type": "PostPaid",
        "spot_strategy": "SpotAsPriceGo" if pool.capacity_type == "spot" else "NoSpot",
        "system_disk_category": SYSTEM_DISK_CATEGORY,
        "system_disk_size": pool.disk_size_gb,
        "scaling_config": {"enable": True, "min_size": pool.min_size, "max_size": pool.max_size},
        "labels": labels(pool),
        "taints": taints(pool),
        "tags": {"kubeai.dev/cluster": cluster.name, "kubeai.dev/pool": pool.name},
    }


def provision(
    name: str, cluster: Cluster, pool: NodePool, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Create the node pool (child ``<name>-node-pool``, through the stack's explicit alicloud
    provider in ``ack.region``, ``infra.providers``); return its id."""
    import pulumi_alicloud as alicloud

    args = node_pool_args(cluster, pool)
    node_pool = alicloud.cs.NodePool(
        f"{name}-node-pool",
        cluster_id=args["cluster_id"],
        node_pool_name=args["node_pool_name"],
        vswitch_ids=args["vswitch_ids"],
        instance_types=args["instance_types"],
        instance_charge_type=args["instance_charge_type"],
        spot_strategy=args["spot_strategy"],
        system_disk_category=args["system_disk_category"],
        system_disk_size=args["system_disk_size"],
        scaling_config=alicloud.cs.NodePoolScalingConfigArgs(**args["scaling_config"]),
        labels=[alicloud.cs.NodePoolLabelArgs(**label) for label in args["labels"]],
        taints=[alicloud.cs.NodePoolTaintArgs(**taint) for taint in args["taints"]],
        tags=args["tags"],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return node_pool.id
