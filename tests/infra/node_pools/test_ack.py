"""infra/node_pools/ack.py: ACK node pools with GPU instance types, scaling, labels, taints."""

from __future__ import annotations

NODE_POOL = "alicloud:cs/nodePool:NodePool"


def test_gpu_node_pool(platform_run) -> None:
    run = platform_run("ack")
    gpu = run.one(NODE_POOL, "pool-gpu-node-pool")
    inputs = gpu.inputs
    assert inputs["clusterId"] == "c0123456789abcdef0123456789"
    assert inputs["instanceTypes"] == ["ecs.gn7i-c8g1.2xlarge"]
    assert inputs["vswitchIds"] == ["vsw-0abc123"]
    assert inputs["scalingConfig"] == {"enable": True, "minSize": 0, "maxSize": 4}
    assert inputs["spotStrategy"] == "SpotAsPriceGo"
    assert {"key": "nvidia.com/gpu.present", "value": "true"} in inputs["labels"]
    assert inputs["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    provider = run.one("pulumi:providers:alicloud", "cloud")  # the stack's one (infra.providers)
    assert provider.inputs["region"] == "cn-hangzhou"
    assert gpu.provider is not None and "pulumi:providers:alicloud::cloud::" in gpu.provider


def test_cpu_node_pool(platform_run) -> None:
    cpu = platform_run("ack").one(NODE_POOL, "pool-cpu-node-pool").inputs
    assert cpu["spotStrategy"] == "NoSpot"
    assert cpu.get("taints", []) == []
