"""infra/addons/gpu.py: mode per provider, tolerations of the pool taints, GPU node selection,
ordering after the pools, pinned charts."""

from __future__ import annotations

import pytest

from infra import versions
from infra.addons.gpu import (
    GpuEnablementArgs,
    device_plugin_values,
    gpu_operator_values,
)
from infra.config import GpuAddon, Toleration, untolerated
from tests.infra import factories

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_device_plugin_tolerates_every_gpu_pool_taint() -> None:
    config = factories.platform_config("eks")
    values = device_plugin_values(config.addons.gpu)
    tolerations = [Toleration.model_validate(t) for t in values["tolerations"]]
    for pool in config.node_pools:
        assert untolerated(pool.effective_taints, tolerations) == []
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in values["tolerations"]
    assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_gpu_operator_values() -> None:
    existing = gpu_operator_values(GpuAddon(), provider="existing")
    assert existing["driver"] == {"enabled": True} and existing["toolkit"] == {"enabled": True}
    eks = gpu_operator_values(GpuAddon(), provider="eks")
    assert eks["driver"] == {"enabled": False}
    assert eks["daemonsets"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize(
    ("provider", "chart"),
    [
        ("eks", "nvidia-device-plugin"),
        ("existing", "nvidia-device-plugin"),
        ("gke", None),
        ("ack", None),
    ],
)
def test_auto_mode_per_provider(platform_run, provider: str, chart: str | None) -> None:
    run = platform_run(provider)
    releases = [r for r in run.of_type(RELEASE) if r.name == "gpu-release"]
    if chart is None:
        assert releases == []
        return
    (release,) = releases
    assert release.inputs["chart"] == factories.verified_archive(versions.NVIDIA_DEVICE_PLUGIN)
    assert release.inputs["version"] == versions.NVIDIA_DEVICE_PLUGIN.version
    assert release.inputs["namespace"] == "nvidia-device-plugin"
    assert release.inputs["values"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_device_plugin_waits_for_every_pool(platform_run) -> None:
    run = platform_run("eks")
    node_groups = [r.key for r in run.of_type("aws:eks/nodeGroup:NodeGroup")]
    assert len(node_groups) == 2
    assert run.waits_for(("kubernetes:helm.sh/v3:Release", "gpu-release"), node_groups)


def test_cpu_only_existing_cluster_gets_no_gpu_addon(platform_run) -> None:
    run = platform_run("existing", nodePools=[{"name": "cpu", "instanceType": "n", "maxSize": 2}])
    assert "gpu-release" not in {r.name for r in run.of_type(RELEASE)}


def test_gpu_operator_is_pinned_and_retained(platform_run) -> None:
    run = platform_run("eks", addons={"gpu": {"mode": "gpuOperator"}})
    release = run.one(RELEASE, "gpu-release")
    assert release.inputs["chart"] == factories.verified_archive(versions.GPU_OPERATOR)
    assert release.inputs["version"] == versions.GPU_OPERATOR.version
    assert "repositoryOpts" not in release.inputs
    assert release.options.retain_on_delete is True  # installs ClusterPolicy CRDs


def test_args_validate() -> None:
    with pytest.raises(ValueError, match="tolerations is empty"):
        GpuEnablementArgs(
            mode="devicePlugin", config=GpuAddon(tolerations=[]), provider="eks"
        ).validate()
    with pytest.raises(ValueError, match="provider"):
        GpuEnablementArgs(mode="none", config=GpuAddon(), provider="azure").validate()
    args = GpuEnablementArgs(mode="gpuOperator", config=GpuAddon(), provider="eks")
    assert args.effective_namespace == "gpu-operator"


@pytest.mark.parametrize("mode", ["devicePlugin", "gpuOperator"])
def test_args_refuse_a_second_device_plugin_on_gke(mode: str) -> None:
    with pytest.raises(ValueError, match="second device plugin beside GKE's"):
        GpuEnablementArgs(mode=mode, config=GpuAddon(), provider="gke").validate()
    GpuEnablementArgs(mode="none", config=GpuAddon(), provider="gke").validate()
