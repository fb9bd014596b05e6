"""KWOK Node manifests carry each pool's labels, taints and GPU capacity, plus CPU nodes."""

from __future__ import annotations

import pytest

from infra.config import GPU_PRESENT_LABEL, GPU_RESOURCE, NodePool, Resources, Taint
from infra.controlplane.nodes import (
    KWOK_ANNOTATION,
    NodeShape,
    pool_nodes,
    stack_nodes,
    stack_pools,
)
from tests.support.helm import REPO_ROOT

STACKS = REPO_ROOT / "stacks"
H100 = NodePool(
    name="gpu-h100",
    instance_type="p5.48xlarge",
    gpu_type="nvidia-h100",
    gpus_per_node=8,
    max_size=2,
)
CPU = NodePool(name="cpu", instance_type="m6i.4xlarge", max_size=10, labels={"tier": "general"})


def by_name(nodes: list[dict]) -> dict[str, dict]:
    return {n["metadata"]["name"]: n for n in nodes}


def test_gpu_pool_nodes_have_gpu_label_taint_and_capacity() -> None:
    nodes = pool_nodes(H100, 2)
    assert [n["metadata"]["name"] for n in nodes] == ["kwok-gpu-h100-0", "kwok-gpu-h100-1"]
    node = nodes[0]
    assert node["metadata"]["annotations"] == {KWOK_ANNOTATION: "fake"}
    labels = node["metadata"]["labels"]
    assert labels[GPU_PRESENT_LABEL] == "true"
    assert labels["kubeai.dev/pool"] == "gpu-h100"
    assert labels["kubeai.dev/gpu-type"] == "nvidia-h100"
    assert labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    assert labels["kubernetes.io/hostname"] == "kwok-gpu-h100-0"
    assert node["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    assert node["status"]["allocatable"][GPU_RESOURCE] == "8"
    assert node["status"]["capacity"] == node["status"]["allocatable"]


def test_cpu_pool_nodes_have_pool_labels_and_no_gpu() -> None:
    node = pool_nodes(CPU, 1, NodeShape(cpu="16", memory="64Gi"))[0]
    assert node["metadata"]["labels"]["tier"] == "general"
    assert GPU_PRESENT_LABEL not in node["metadata"]["labels"]
    assert node["spec"] == {}
    assert node["status"]["allocatable"] == {"cpu": "16", "memory": "64Gi", "pods": "110"}


def test_nodes_offer_the_pools_declared_allocatable() -> None:
    pool = H100.model_copy(update={"allocatable": Resources(cpu="191450m", memory="1900Gi")})
    node = pool_nodes(pool, 1)[0]
    assert node["status"]["allocatable"] == {
        "cpu": "191450m",
        "memory": "1900Gi",
        "pods": "110",
        GPU_RESOURCE: "8",
    }
    assert pool_nodes(H100, 1)[0]["status"]["allocatable"]["memory"] == NodeShape().memory
    (l4,) = [p for p in stack_pools("prod-eks", STACKS) if p.name == "gpu-l4"]
    (node,) = [n for n in stack_nodes([l4], per_pool=1, system_nodes=0)]
    assert node["status"]["allocatable"]["memory"] == "27Gi"


def test_declared_taints_replace_the_default_gpu_taint() -> None:
    pool = H100.model_copy(
        update={"taints": [Taint(key="dedicated", value="training", effect="NoExecute")]}
    )
    assert pool_nodes(pool, 1)[0]["spec"]["taints"] == [
        {"key": "dedicated", "value": "training", "effect": "NoExecute"}
    ]


def test_stack_nodes_caps_each_pool_at_its_max_size_and_adds_cpu_nodes() -> None:
    small = CPU.model_copy(update={"name": "tiny", "max_size": 1})
    empty = CPU.model_copy(update={"name": "off", "min_size": 0, "max_size": 0})
    nodes = by_name(stack_nodes([H100, small, empty], per_pool=3, system_nodes=2))
    assert sorted(nodes) == [
        "kwok-gpu-h100-0",
        "kwok-gpu-h100-1",
        "kwok-system-0",
        "kwok-system-1",
        "kwok-tiny-0",
    ]
    assert nodes["kwok-system-0"]["metadata"]["labels"]["kubeai.dev/pool"] == "system"
    assert nodes["kwok-system-0"]["spec"] == {}


def test_stack_nodes_refuses_bad_counts_and_the_reserved_pool_name() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        stack_nodes([CPU], per_pool=-1)
    with pytest.raises(ValueError, match="reserved"):
        stack_nodes([CPU.model_copy(update={"name": "system"})])


def test_stack_pools_reads_a_platform_stack_and_refuses_a_team_stack() -> None:
    pools = stack_pools("prod-eks", STACKS)
    assert [p.name for p in pools] == ["cpu-general", "gpu-l4", "gpu-h100"]
    assert [p.name for p in stack_pools("local", STACKS)] == ["cpu"]
    with pytest.raises(ValueError, match="team stack"):
        stack_pools("team-cv-prod", STACKS)
