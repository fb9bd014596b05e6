"""EKS managed node groups (``pulumi_aws.eks.NodeGroup``) in an existing EKS cluster.

* AMI type: ``AL2023_x86_64_NVIDIA`` for GPU pools (Amazon Linux 2023 with the NVIDIA driver and
  container toolkit; the device plugin is ours), ``AL2023_ARM_64_NVIDIA`` for Graviton GPU
  instances (``g5g``), ``AL2023_x86_64_STANDARD``/``AL2023_ARM_64_STANDARD`` for CPU pools
  (EKS API ``Nodegroup.amiType``).
* ``scaling_config`` min/max (desired starts at min; later changes are the autoscaler's, so it
  is ignored on update), ``capacity_type`` ``SPOT``/``ON_DEMAND``, ``disk_size``.
* ``labels`` = the pool's effective labels (``nvidia.com/gpu.present=true`` on GPU pools);
  ``taints`` = its effective taints with the EKS effect spelling (``NO_SCHEDULE``...).
* Scale from zero: a pool that may be empty (``minSize: 0``) gets the cluster-autoscaler's
  node-template tags on its Auto Scaling group (``aws.autoscaling.Tag``, not propagated to the
  instances): ``k8s.io/cluster-autoscaler/node-template/label/<key>``, ``.../taint/<key>``
  (``value:Effect``) and ``.../resources/nvidia.com/gpu`` (cluster-autoscaler
  ``cloudprovider/aws/README.md``, "Auto-Discovery Setup" and "Scaling a node group to 0"), so
  the autoscaler knows what an empty group's node would offer before one exists: GPU pods
  select on these labels and tolerate these taints, and ask for ``nvidia.com/gpu``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pulumi

from infra.config import Cluster, NodePool

#: Kubernetes taint effect -> EKS API spelling (Nodegroup.taints[].effect).
EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
CAPACITY_TYPES = {"onDemand": "ON_DEMAND", "spot": "SPOT"}
_GRAVITON = re.compile(r"^[a-z]+[0-9]+g[a-z-]*\.")


def is_arm(instance_type: str) -> bool:
    """Whether ``instance_type`` is a Graviton (arm64) type, e.g. ``g5g.xlarge``, ``m7g.large``."""
    return bool(_GRAVITON.match(instance_type))


def ami_type(pool: NodePool) -> str:
    """The EKS AMI type for ``pool`` (NVIDIA variants for GPU pools)."""
    arch = "ARM_64" if is_arm(pool.instance_type) else "x86_64"
    flavour = "NVIDIA" if pool.is_gpu else "STANDARD"
    return f"AL2023_{arch}_{flavour}"


def taints(pool: NodePool) -> list[dict[str, str]]:
    """The pool's taints in EKS form (``key``, ``value``, ``effect`` NO_SCHEDULE...)."""
    return [
        {"key": t.key, "value": t.value, "effect": EFFECTS[t.effect]} for t in pool.effective_taints
    ]


#: Prefix of the cluster-autoscaler's node-template tags on an Auto Scaling group.
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def node_template_tags(pool: NodePool) -> dict[str, str]:
    """The node-template tags of ``pool``'s Auto Scaling group (``{}`` unless it may be empty):
    its labels, taints (``value:Effect``) and GPUs per node."""
    if pool.min_size > 0:
        return {}
    tags = {f"{NODE_TEMPLATE}/label/{k}": v for k, v in pool.effective_labels.items()}
    for taint in pool.effective_taints:
        tags[f"{NODE_TEMPLATE}/taint/{taint.key}"] = f"{taint.value}:{taint.effect}"
    if pool.is_gpu:
        tags[f"{NODE_TEMPLATE}/resources/nvidia.com/gpu"] = str(pool.gpus_per_node)
    return tags


def _group_name(resources: Sequence[Any] | None) -> str | None:
    """The Auto Scaling group of a node group's ``resources`` output (None until known)."""
    for resource in resources or []:
        for group in getattr(resource, "autoscaling_groups", None) or []:
            if getattr(group, "name", None):
                return str(group.name)
    return None


def node_group_args(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    """Keyword arguments of ``aws.eks.NodeGroup`` for ``pool`` (plain values, no resources)."""
    eks = cluster.eks
    if eks is None:
        raise ValueError("kubeai:cluster.eks is required for provider eks")
    return {
        "cluster_name": eks.cluster_name,
        "region": eks.region,
        "node_group_name": f"{cluster.name}-{pool.name}",
        "node_role_arn": eks.node_role_arn,
        "subnet_ids": list(eks.subnet_ids),
        "instance_types": [pool.instance_type],
        "ami_type": ami_type(pool),
        "capacity_type": CAPACITY_TYPES[pool.capacity_type],
        "disk_size": pool.disk_size_gb,
        "scaling_config": {
            "min_size": pool.min_size,
            "max_size": pool.max_size,
            "desired_size": pool.min_size,
        },
        "update_config": {"max_unavailable": 1},
        "labels": pool.effective_labels,
        "taints": taints(pool),
        "tags": {"kubeai.dev/cluster": cluster.name, "kubeai.dev/pool": pool.name},
    }


def provision(
    name: str, cluster: Cluster, pool: NodePool, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Create the managed node group (child ``<name>-node-group``); return its id."""
    import pulumi_aws as aws

    args = node_group_args(cluster, pool)
    node_group = aws.eks.NodeGroup(
        f"{name}-node-group",
        cluster_name=args["cluster_name"],
        region=args["region"],
        node_group_name=args["node_group_name"],
        node_role_arn=args["node_role_arn"],
        subnet_ids=args["subnet_ids"],
        instance_types=args["instance_types"],
        ami_type=args["ami_type"],
        capacity_type=args["capacity_type"],
        disk_size=args["disk_size"],
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(**args["scaling_config"]),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(**args["update_config"]),
        labels=args["labels"],
        taints=[aws.eks.NodeGroupTaintArgs(**t) for t in args["taints"]],
        tags=args["tags"],
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["scalingConfig.desiredSize"]),
    )
    group = node_group.resources.apply(_group_name)
    for index, (key, value) in enumerate(sorted(node_template_tags(pool).items())):
        aws.autoscaling.Tag(
            f"{name}-node-template-{index}",
            autoscaling_group_name=group,
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return node_group.id
