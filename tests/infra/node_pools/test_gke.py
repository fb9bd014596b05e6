"""infra/node_pools/gke.py: node pools with guest accelerators, managed drivers, autoscaling."""

from __future__ import annotations

NODE_POOL = "gcp:container/nodePool:NodePool"


def test_gpu_node_pool(platform_run) -> None:
    gpu = platform_run("gke").one(NODE_POOL, "pool-gpu-node-pool").inputs
    assert (gpu["project"], gpu["location"], gpu["cluster"], gpu["name"]) == (
        "kubeai-prod-1",
        "us-central1",
        "kubeai",
        "gpu",
    )
    node = gpu["nodeConfig"]
    assert node["machineType"] == "g2-standard-8"
    assert node["guestAccelerators"] == [
        {
            "type": "nvidia-l4",
            "count": 2,
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"},
        }
    ]
    assert node["spot"] is True
    assert node["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    ]
    assert node["labels"]["nvidia.com/gpu.present"] == "true"
    assert gpu["autoscaling"]["totalMinNodeCount"] == 0
    assert gpu["autoscaling"]["totalMaxNodeCount"] == 4
    assert gpu["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_cpu_node_pool(platform_run) -> None:
    cpu = platform_run("gke").one(NODE_POOL, "pool-cpu-node-pool").inputs
    assert cpu["nodeConfig"].get("guestAccelerators", []) == []
    assert cpu["nodeConfig"].get("taints", []) == []
    assert cpu["nodeConfig"]["spot"] is False
    assert cpu["initialNodeCount"] == 1
