"""infra/node_pools/eks.py: managed node groups with the NVIDIA AMI, taints, labels, scaling."""

from __future__ import annotations

import pytest

from infra.config import NodePool
from infra.node_pools import eks
from tests.infra import factories

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def test_gpu_node_group(platform_run) -> None:
    run = platform_run("eks")
    gpu = run.one(NODE_GROUP, "pool-gpu-node-group")
    inputs = gpu.inputs
    assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["instanceTypes"] == ["g5.2xlarge"]
    assert inputs["capacityType"] == "SPOT"
    assert inputs["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 0}
    assert inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    ]
    assert inputs["labels"]["nvidia.com/gpu.present"] == "true"
    assert inputs["labels"]["kubeai.dev/gpu-type"] == "nvidia-a10g"
    assert inputs["clusterName"] == "kubeai-prod" and inputs["region"] == "us-east-1"
    assert inputs["nodeGroupName"] == "prod-gpu"
    assert inputs["subnetIds"] == ["subnet-0a1b2c", "subnet-0d4e5f"]
    assert gpu.parent == ("kubeai:node_pools:GpuNodePool", "pool-gpu")
    assert gpu.options.ignore_changes == ["scalingConfig.desiredSize"]


def test_cpu_node_group(platform_run) -> None:
    cpu = platform_run("eks").one(NODE_GROUP, "pool-cpu-node-group").inputs
    assert cpu["amiType"] == "AL2023_x86_64_STANDARD"
    assert cpu["capacityType"] == "ON_DEMAND"
    assert cpu.get("taints", []) == []
    assert "nvidia.com/gpu.present" not in cpu["labels"]


@pytest.mark.parametrize(
    ("instance", "arm"),
    [
        ("g5g.xlarge", True),
        ("m7gd.large", True),
        ("g5.2xlarge", False),
        ("p4d.24xlarge", False),
        ("c7gn.medium", True),
    ],
)
def test_graviton_detection(instance: str, arm: bool) -> None:
    assert eks.is_arm(instance) is arm
    pool = NodePool(
        name="p", instance_type=instance, gpu_type="nvidia-t4g", gpus_per_node=1, max_size=1
    )
    assert eks.ami_type(pool) == ("AL2023_ARM_64_NVIDIA" if arm else "AL2023_x86_64_NVIDIA")


def test_custom_taints_keep_their_effect() -> None:
    config = factories.platform_config(
        "eks",
        nodePools=[
            {
                "name": "gpu",
                "instanceType": "p4d.24xlarge",
                "gpuType": "nvidia-a100",
                "gpusPerNode": 8,
                "maxSize": 2,
                "taints": [{"key": "dedicated", "value": "training", "effect": "NoExecute"}],
            }
        ],
        addons={"gpu": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}},
    )
    assert eks.taints(config.node_pools[0]) == [
        {"key": "dedicated", "value": "training", "effect": "NO_EXECUTE"}
    ]


def test_pools_that_may_be_empty_tell_the_autoscaler_what_their_nodes_offer(platform_run) -> None:
    run = platform_run("eks")
    tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
        for t in run.of_type("aws:autoscaling/tag:Tag")
        if t.parent == ("kubeai:node_pools:GpuNodePool", "pool-gpu")
    }
    template = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{template}/label/nvidia.com/gpu.present"] == "true"
    assert tags[f"{template}/label/kubeai.dev/pool"] == "gpu"
    assert tags[f"{template}/taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert tags[f"{template}/resources/nvidia.com/gpu"] == "2"
    for tag in run.of_type("aws:autoscaling/tag:Tag"):
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
    # the CPU pool keeps a node (minSize 1): no template needed
    assert not [t for t in run.of_type("aws:autoscaling/tag:Tag") if "pool-cpu" in t.name]


def test_node_template_tags_follow_the_pool() -> None:
    pool = NodePool.model_validate(
        {
            "name": "a",
            "instanceType": "p5.48xlarge",
            "gpuType": "nvidia-h100",
            "gpusPerNode": 8,
            "maxSize": 2,
            "taints": [],
        }
    )
    tags = eks.node_template_tags(pool)
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "8"
    assert not [k for k in tags if "/taint/" in k]
    assert eks.node_template_tags(pool.model_copy(update={"min_size": 1})) == {}
