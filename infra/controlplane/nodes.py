"""KWOK Node manifests for a platform stack's node pools: pure functions, no cluster needed.

A KWOK node is a Node object that KWOK (``--manage-nodes-with-annotation-selector=
kwok.x-k8s.io/node=fake``) keeps Ready and whose pods it marks Running; nothing runs. Each pool
gives nodes with the pool's labels and taints (``NodePool.effective_labels`` /
``effective_taints``: GPU pools get ``nvidia.com/gpu.present=true`` and the GPU taint unless they
declare their own), on GPU pools ``nvidia.com/gpu`` capacity = ``gpusPerNode``, and the pool's
declared ``allocatable`` CPU and memory (``NodeShape()`` where it declares none). Every cluster
also gets plain CPU nodes (pool ``system``), standing in for the nodes a managed cluster or the
existing cluster brings besides the declared pools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import GPU_RESOURCE, NodePool, PlatformConfig

#: Annotation KWOK is started to manage (``--manage-nodes-with-annotation-selector``).
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"
KWOK_SELECTOR = f"{KWOK_ANNOTATION}={KWOK_ANNOTATION_VALUE}"
POOL_LABEL = "kubeai.dev/pool"
SYSTEM_POOL = "system"


@dataclass(frozen=True)
class NodeShape:
    """Allocatable CPU (cores), memory and pod slots of one node, as Kubernetes quantities."""

    cpu: str = "32"
    memory: str = "256Gi"
    pods: str = "110"


def node_manifest(
    name: str,
    *,
    labels: dict[str, str],
    taints: list[dict[str, str]],
    gpus: int = 0,
    shape: NodeShape = NodeShape(),
) -> dict[str, Any]:
    """One KWOK-managed Node: ``labels`` plus the well-known node labels, ``taints``, capacity.

    ``taints`` are Kubernetes ``spec.taints`` entries (``key``, ``value``, ``effect``); ``gpus``
    > 0 adds ``nvidia.com/gpu`` to capacity and allocatable.
    """
    resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": shape.pods}
    if gpus:
        resources[GPU_RESOURCE] = str(gpus)
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE},
            "labels": {
                **labels,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {"taints": taints} if taints else {},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }
    return node


def pool_shape(pool: NodePool) -> NodeShape:
    """The pool's declared ``allocatable`` CPU and memory, ``NodeShape()`` where undeclared."""
    declared = pool.allocatable
    default = NodeShape()
    if declared is None:
        return default
    return NodeShape(cpu=declared.cpu or default.cpu, memory=declared.memory or default.memory)


def pool_nodes(pool: NodePool, count: int, shape: NodeShape | None = None) -> list[dict[str, Any]]:
    """``count`` nodes of ``pool``, named ``kwok-<pool>-<i>``, of ``shape`` (default: the
    pool's declared allocatable, ``pool_shape``)."""
    shape = shape or pool_shape(pool)
    labels = {**pool.effective_labels, "node.kubernetes.io/instance-type": pool.instance_type}
    taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.effective_taints]
    return [
        node_manifest(
            f"kwok-{pool.name}-{index}",
            labels=labels,
            taints=taints,
            gpus=pool.gpus_per_node,
            shape=shape,
        )
        for index in range(count)
    ]


def stack_nodes(
    pools: Iterable[NodePool],
    *,
    per_pool: int = 2,
    system_nodes: int = 1,
    shape: NodeShape | None = None,
) -> list[dict[str, Any]]:
    """Nodes for every pool plus ``system_nodes`` CPU nodes of pool ``system``.

    A pool gets ``per_pool`` nodes, fewer when its ``maxSize`` is smaller (none at ``maxSize``
    0), of ``shape`` (default: each pool's ``pool_shape``); ``minSize`` is ignored because a
    pool scaled to zero still has to prove it can schedule.
    Raises ``ValueError`` for a negative count or a pool named ``system``.
    """
    if per_pool < 0 or system_nodes < 0:
        raise ValueError(f"node counts must be >= 0, got {per_pool=} {system_nodes=}")
    out: list[dict[str, Any]] = []
    for pool in pools:
        if pool.name == SYSTEM_POOL:
            raise ValueError(f"node pool name {SYSTEM_POOL!r} is reserved for the CPU nodes")
        out += pool_nodes(pool, min(per_pool, pool.max_size), shape)
    out += [
        node_manifest(f"kwok-{SYSTEM_POOL}-{index}", labels={POOL_LABEL: SYSTEM_POOL}, taints=[])
        for index in range(system_nodes)
    ]
    return out


def stack_pools(stack: str, stacks_dir: Path) -> list[NodePool]:
    """The node pools of platform stack ``stacks/Pulumi.<stack>.yaml``.

    Raises ``ConfigError`` / ``RenderError`` for a bad or missing stack file and ``ValueError``
    for a team stack.
    """
    from infra.render import load_stack

    config, _, _ = load_stack(stack, stacks_dir)
    if not isinstance(config, PlatformConfig):
        raise ValueError(f"stack {stack!r} is a team stack; node pools live in platform stacks")
    return list(config.node_pools)
