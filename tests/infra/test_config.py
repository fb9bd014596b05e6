"""Stack configuration: every example stack parses; bad config gives key paths and suggestions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
    split_keys,
)
from tests.infra import factories

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _values(stack: str) -> dict[str, Any]:
    raw = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text())["config"]
    return split_keys(raw)[0]


def _problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(values)
    return caught.value.problems


@pytest.mark.parametrize("stack", sorted(p.name[7:-5] for p in STACKS.glob("Pulumi.*.yaml")))
def test_every_example_stack_parses(stack: str) -> None:
    config = parse_config(_values(stack))
    assert isinstance(config, PlatformConfig if not stack.startswith("team-") else TeamConfig)


def test_typo_names_full_key_path_and_suggests() -> None:
    values = _values("team-cv-prod")
    values["quota"] = {**values["quota"], "gpuQouta": 8}
    problems = _problems(values)
    assert problems == [("kubeai:quota.gpuQouta", "unknown key; did you mean 'gpus'?")]
    values = _values("prod-ack")
    values["addons"] = {"volcanoo": {}}
    [(path, message)] = _problems(values)
    assert path == "kubeai:addons.volcanoo" and "did you mean 'volcano'" in message
    values = _values("prod-ack")
    values["nodePools"][1]["gpusPerNod"] = 2
    [(path, message)] = _problems(values)
    assert path == "kubeai:nodePools[1].gpusPerNod" and "gpusPerNode" in message


def test_queue_capability_above_resource_quota_is_refused() -> None:
    values = _values("team-cv-prod")
    values["queue"]["capability"] = {"cpu": "64", "memory": "256Gi", "gpus": 8}
    values["queue"].pop("deserved"), values["queue"].pop("guarantee")
    values["quota"] = {"gpus": 4, "cpu": "64", "memory": "256Gi"}
    values["inferenceServices"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:quota" and "gpus 8 > 4" in message and "gangs" in message


def test_queue_guarantee_and_deserved_bounded_by_capability_and_weight() -> None:
    values = _values("team-cv-prod")
    values["queue"]["guarantee"] = {"gpus": 32}
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue" and "guarantee exceeds capability" in message
    values = _values("team-cv-prod")
    values["queue"]["weight"] = 0
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue.weight" and "greater than or equal to 1" in message


def test_team_asking_more_gpus_than_platform_pools_hold() -> None:
    team = parse_config(_values("team-risk-prod"))
    platform = parse_config(_values("prod-gke"))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    team.check_against_platform(platform_outputs(platform))  # 2 <= 24: fine
    values = _values("team-risk-prod")
    values["quota"]["gpus"] = 500
    greedy = parse_config(values)
    assert isinstance(greedy, TeamConfig)
    with pytest.raises(ConfigError) as caught:
        greedy.check_against_platform(platform_outputs(platform))
    [(path, message)] = caught.value.problems
    assert path == "kubeai:quota.gpus" and "500 GPUs" in message and "at most 24" in message


def test_device_plugin_without_gpu_toleration_is_refused() -> None:
    values = _values("prod-eks")
    values["addons"] = {
        "gpu": {"mode": "devicePlugin", "tolerations": [{"key": "CriticalAddonsOnly"}]}
    }
    problems = _problems(values)
    assert problems[0][0] == "kubeai:addons.gpu.tolerations"
    assert "nvidia.com/gpu=present:NoSchedule" in problems[0][1] and "gpu-l4" in problems[0][1]
    values["addons"]["gpu"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert parse_config(values)


def test_gpu_inference_service_must_tolerate_gpu_taint() -> None:
    values = _values("team-cv-prod")
    values["inferenceServices"][0]["tolerations"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:inferenceServices[0].tolerations" and "GPU pool taint" in message


def test_secrets_must_not_be_plain_config() -> None:
    raw = yaml.safe_load((STACKS / "Pulumi.prod-eks.yaml").read_text())["config"]
    raw["kubeai:postgresDsn"] = "postgresql://user:pw@db/kubeai"
    with pytest.raises(ConfigError) as caught:
        split_keys(raw)
    assert caught.value.problems[0][0] == "kubeai:postgresDsn"
    assert "pulumi config set --secret" in caught.value.problems[0][1]
    raw["kubeai:postgresDsn"] = {"secure": "AAABAJ..."}
    values, secrets = split_keys(raw)
    assert secrets == {"postgresDsn"} and "postgresDsn" not in values


def test_value_errors_name_the_key() -> None:
    values = _values("prod-ack")
    bad = copy.deepcopy(values)
    bad["nodePools"][1]["minSize"] = 30
    [(path, message)] = _problems(bad)
    assert path == "kubeai:nodePools[1]" and "minSize 30 must be <= maxSize 16" in message
    bad = copy.deepcopy(values)
    bad["glue"]["image"]["tag"] = "latest"
    [(path, message)] = _problems(bad)
    assert path == "kubeai:glue.image.tag" and "never 'latest'" in message
    bad = copy.deepcopy(values)
    bad["cluster"]["provider"] = "eks"
    [(path, _)] = _problems(bad)
    assert path == "kubeai:cluster"
    assert _problems({"stackKind": "cluster"}) == [
        ("kubeai:stackKind", "must be 'platform' or 'team', got 'cluster'")
    ]
    bad = _values("team-cv-prod")
    bad["quota"]["memory"] = "lots"
    [(path, message)] = _problems(bad)
    assert path == "kubeai:quota.memory" and "Kubernetes quantity" in message


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
