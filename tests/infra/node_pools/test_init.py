"""infra/node_pools/__init__.py: GpuNodePool args validation, provider dispatch, outputs."""

from __future__ import annotations

import pytest

from infra.config import NodePool
from infra.node_pools import PROVIDERS, GpuNodePoolArgs, provisioner
from tests.infra import factories


def pool(**values: object) -> NodePool:
    return NodePool.model_validate(
        {
            "name": "gpu",
            "instanceType": "x",
            "gpuType": "nvidia-l4",
            "gpusPerNode": 1,
            "maxSize": 2,
            **values,
        }
    )


def test_provisioned_pools_need_a_positive_max_size() -> None:
    cluster = factories.platform_config("eks").cluster
    with pytest.raises(ValueError, match=r"'gpu'.*maxSize must be >= 1"):
        GpuNodePoolArgs(cluster=cluster, pool=pool(maxSize=0)).validate()
    existing = factories.platform_config("existing").cluster
    GpuNodePoolArgs(cluster=existing, pool=pool(maxSize=0)).validate()


def test_gke_gpu_type_must_be_an_accelerator_type() -> None:
    cluster = factories.platform_config("gke").cluster
    with pytest.raises(ValueError, match="GKE accelerator type"):
        GpuNodePoolArgs(cluster=cluster, pool=pool(gpuType="a100")).validate()


def test_provisioner_dispatch() -> None:
    for provider in PROVIDERS:
        assert callable(provisioner(provider).provision)
    with pytest.raises(ValueError, match="unknown provider"):
        provisioner("azure")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_component_per_pool_with_its_outputs(platform_run, provider: str) -> None:
    run = platform_run(provider)
    components = run.of_type("kubeai:node_pools:GpuNodePool")
    assert [c.name for c in components] == ["pool-cpu", "pool-gpu"]
    ids = run.exports["nodePools"]
    assert set(ids) == {"gpu", "cpu"}
    if provider == "existing":
        assert ids == {"gpu": "existing/gpu", "cpu": "existing/cpu"}
    else:
        assert all(value.endswith("-id") for value in ids.values())  # the mock's resource ids
