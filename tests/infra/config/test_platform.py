"""infra/config/platform.py: GPU mode and capacity, tolerations, what a provider can provision."""

from __future__ import annotations

import pytest

from infra.config import (
    PlatformConfig,
    parse_config,
)
from tests.infra import factories
from tests.infra.factories import config_problems as _problems
from tests.infra.factories import stack_values as _values


def test_device_plugin_without_gpu_toleration_is_refused() -> None:
    values = _values("prod-eks")
    values["addons"]["gpu"] = {
        "mode": "devicePlugin",
        "tolerations": [{"key": "CriticalAddonsOnly"}],
    }
    problems = _problems(values)
    assert problems[0][0] == "kubeai:addons.gpu.tolerations"
    assert "nvidia.com/gpu=present:NoSchedule" in problems[0][1] and "gpu-l4" in problems[0][1]
    values["addons"]["gpu"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert parse_config(values)


def test_gpu_mode_resolution_and_capacity() -> None:
    ack, eks, local = (parse_config(_values(s)) for s in ("prod-ack", "prod-eks", "local"))
    assert isinstance(ack, PlatformConfig) and isinstance(eks, PlatformConfig)
    assert isinstance(local, PlatformConfig)
    assert (ack.gpu_mode, eks.gpu_mode, local.gpu_mode) == ("none", "devicePlugin", "none")
    assert ack.gpu_capacity == {"nvidia-a10": 16, "nvidia-a100": 32}
    pool = ack.node_pools[1]
    assert pool.effective_labels["nvidia.com/gpu.present"] == "true"
    assert [(t.key, t.value, t.effect) for t in pool.effective_taints] == [
        ("nvidia.com/gpu", "present", "NoSchedule")
    ]
    assert ack.node_pools[0].effective_taints == []


def test_an_empty_pool_on_eks_is_a_config_error_with_its_key_path() -> None:
    values = factories.platform_values("eks")
    values["nodePools"][0]["maxSize"] = 0
    [(path, message)] = _problems(values)
    assert path == "kubeai:nodePools[0].maxSize"
    assert "must be >= 1" in message and "'gpu'" in message and "eks" in message


def test_a_gke_gpu_type_that_is_no_accelerator_is_a_config_error() -> None:
    values = factories.platform_values("gke")
    values["nodePools"][0]["gpuType"] = "tesla-l4"
    [(path, message)] = _problems(values)
    assert path == "kubeai:nodePools[0].gpuType"
    assert "nvidia-l4" in message and "'tesla-l4'" in message


def test_an_existing_cluster_may_describe_an_empty_pool() -> None:
    values = factories.platform_values("existing")
    values["nodePools"][0]["maxSize"] = 0
    assert isinstance(parse_config(values), PlatformConfig)


@pytest.mark.parametrize("mode", ["devicePlugin", "gpuOperator"])
def test_a_device_plugin_of_ours_on_gke_is_refused_with_the_reason(mode: str) -> None:
    """GKE's pools keep GKE's driver and device plugin (infra.node_pools.gke): the GPU Operator or
    NVIDIA's device plugin would advertise nvidia.com/gpu a second time on every GPU node."""
    values = factories.platform_values("gke", addons={"gpu": {"mode": mode}})
    [(path, message)] = _problems(values)
    assert path == "kubeai:addons.gpu.mode"
    assert f"{mode} is refused on gke" in message and "device plugin" in message
    assert "gke-no-default-nvidia-gpu-device-plugin" in message and "use auto" in message
    for accepted in ("auto", "none"):
        values["addons"]["gpu"]["mode"] = accepted
        config = parse_config(values)
        assert isinstance(config, PlatformConfig) and config.gpu_mode == "none"


@pytest.mark.parametrize("provider", ["existing", "eks", "ack"])
def test_the_gpu_operator_stays_accepted_elsewhere(provider: str) -> None:
    values = factories.platform_values(provider, addons={"gpu": {"mode": "gpuOperator"}})
    config = parse_config(values)
    assert isinstance(config, PlatformConfig) and config.gpu_mode == "gpuOperator"


def test_queue_policy_defaults_to_proportion_and_refuses_others() -> None:
    config = factories.platform_config("eks")
    assert config.addons.volcano.queue_policy == "proportion"
    capacity = factories.platform_config("eks", addons={"volcano": {"queuePolicy": "capacity"}})
    assert capacity.addons.volcano.queue_policy == "capacity"
    values = factories.platform_values("eks", addons={"volcano": {"queuePolicy": "drf"}})
    [(path, message)] = _problems(values)
    assert path == "kubeai:addons.volcano.queuePolicy" and "'proportion'" in message


@pytest.mark.parametrize(
    "key", ["kubeai.dev/pool", "nvidia.com/gpu.present", "kubeai.dev/gpu-type"]
)
def test_pool_labels_may_not_set_the_labels_the_platform_sets(key: str) -> None:
    values = factories.platform_values("eks")
    values["nodePools"][0]["labels"] = {"example.com/team": "cv", key: "other"}
    [(path, message)] = _problems(values)
    assert path == "kubeai:nodePools[0].labels" and repr(key) in message and "drop" in message


def test_pool_labels_of_ones_own_are_kept() -> None:
    config = factories.platform_config(
        "eks",
        nodePools=[
            {
                "name": "cpu",
                "instanceType": "m6i.2xlarge",
                "maxSize": 2,
                "labels": {"example.com/team": "cv"},
            }
        ],
    )
    assert config.node_pools[0].effective_labels == {
        "kubeai.dev/pool": "cpu",
        "example.com/team": "cv",
    }
