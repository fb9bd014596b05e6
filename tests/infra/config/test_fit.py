"""infra/config/fit.py: what admission or the scheduler would refuse is refused at config time.

Each defect class of issue 7 keeps its quoted input: the example stacks as they were (cv's
resnet50 asking ``cpu: "4"`` under a LimitRange default limit of 2, search's 32Gi Alluxio memory
cache, datasets without a size, cache pods in a team namespace, ``gpus: 16`` on prod-eks and
``gpus: 2`` on prod-gke). tests/cluster/test_refusals.py shows the control plane refusing the
same objects with these checks off.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import (
    AGENT_RESOURCES,
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
)
from infra.quantity import parse_quantity
from tests.infra.factories import config_problems as _problems
from tests.infra.factories import stack_values as _values

EXAMPLE_TEAMS = {
    "team-cv-prod": "prod-ack",
    "team-search-prod": "prod-eks",
    "team-risk-prod": "prod-gke",
}


def _platform_problems(values: dict[str, Any], platform_stack: str) -> list[tuple[str, str]]:
    """Problems of ``check_against_platform`` for team ``values`` (which must parse)."""
    team = parse_config(values)
    platform = parse_config(_values(platform_stack))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    with pytest.raises(ConfigError) as caught:
        team.check_against_platform(platform_outputs(platform))
    return caught.value.problems


def _paths(problems: list[tuple[str, str]]) -> set[str]:
    return {path for path, _ in problems}


@pytest.mark.parametrize("stack", sorted(EXAMPLE_TEAMS))
def test_example_team_stacks_pass_every_check(stack: str) -> None:
    team = parse_config(_values(stack))
    platform = parse_config(_values(EXAMPLE_TEAMS[stack]))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    team.check_against_platform(platform_outputs(platform))


# -- LimitRange ---------------------------------------------------------------------------------


def test_cv_resnet50_cpu_request_above_the_default_limit_gets_a_covering_limit() -> None:
    """Quoted input: resnet50 requests cpu "4", the LimitRange default limit is "2"."""
    team = parse_config(_values("team-cv-prod"))
    assert isinstance(team, TeamConfig)
    resnet = team.inference_services[0]
    assert (resnet.cpu, team.limit_range.default_limit.cpu) == ("4", "2")
    resources = resnet.triton_resources(team.limit_range).manifest()
    assert resources == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "4", "memory": "16Gi"},
    }
    digits = team.inference_services[1].triton_resources(team.limit_range)
    assert digits.limits.cpu == "2"  # request 1: the default limit lets it burst
    assert AGENT_RESOURCES.limits.cpu and AGENT_RESOURCES.limits.memory


def test_search_alluxio_memory_cache_worker_gets_a_covering_memory_limit() -> None:
    """Quoted input: the Alluxio worker caches 32Gi in memory; the default limit is 4Gi."""
    team = parse_config(_values("team-search-prod"))
    assert isinstance(team, TeamConfig)
    containers = team.datasets[0].runtime.containers()
    assert set(containers) == {"master", "jobMaster", "worker", "jobWorker", "fuse"}
    worker = containers["worker"]
    assert parse_quantity(worker.requests.memory or "0") >= parse_quantity("32Gi")
    for container in containers.values():
        for resource in ("cpu", "memory"):
            request, limit = container.requests.amount(resource), container.limits.amount(resource)
            assert request is not None and limit is not None and limit >= request


def test_service_cpu_above_the_limit_range_max_is_refused() -> None:
    values = _values("team-cv-prod")
    values["limitRange"] = {"max": {"cpu": "2", "memory": "64Gi"}}
    problems = _problems(values)
    assert "kubeai:inferenceServices[0].cpu" in _paths(problems)
    message = dict(problems)["kubeai:inferenceServices[0].cpu"]
    assert "cpu request 4 and limit 4 above the LimitRange max 2" in message
    assert "kubeai:limitRange.max.cpu" in message


def test_explicit_cpu_limit_above_the_limit_range_max_names_cpu_limit() -> None:
    values = _values("team-risk-prod")
    values["limitRange"] = {"max": {"cpu": "3", "memory": "8Gi"}}
    values["inferenceServices"][0]["cpuLimit"] = "4"
    [(path, message)] = _problems(values)
    assert path == "kubeai:inferenceServices[0].cpuLimit" and "cpu limit 4" in message


def test_cpu_limit_below_the_request_is_refused() -> None:
    values = _values("team-risk-prod")
    values["inferenceServices"][0]["cpuLimit"] = "1"
    [(path, message)] = _problems(values)
    assert path == "kubeai:inferenceServices[0]" and "cpuLimit 1 must be >= cpu 2" in message


def test_memory_cache_worker_above_the_limit_range_max_is_refused() -> None:
    values = _values("team-search-prod")
    values["limitRange"] = {"max": {"cpu": "16", "memory": "16Gi"}}
    problems = _problems(values)
    assert _paths(problems) == {"kubeai:datasets[0].runtime"}
    assert "alluxio worker container" in problems[0][1]
    assert (
        "memory request 34816Mi and limit 34816Mi above the LimitRange max 16Gi" in problems[0][1]
    )


def test_agent_below_the_limit_range_min_is_refused() -> None:
    values = _values("team-risk-prod")
    values["limitRange"] = {"min": {"cpu": "100m"}}
    problems = _problems(values)
    assert _paths(problems) == {"kubeai:inferenceServices[0]"}
    assert (
        "serving-agent" in problems[0][1]
        and "cpu request 50m below the LimitRange min 100m" in problems[0][1]
    )


# -- ResourceQuota --------------------------------------------------------------------------------


def test_one_replica_above_the_quota_is_refused() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0]["cpu"] = "200"
    problems = _problems(values)
    assert "kubeai:inferenceServices[0].cpu" in _paths(problems)
    assert "ResourceQuota allows 128" in dict(problems)["kubeai:inferenceServices[0].cpu"]


def test_all_replicas_above_the_quota_are_refused() -> None:
    values = _values("team-risk-prod")
    values["inferenceServices"][0]["replicas"] = 20
    values["inferenceServices"][0]["memory"] = "16Gi"
    [(path, message)] = _problems(values)
    assert path == "kubeai:quota.memory" and "requests x max replicas" in message


# -- Fluid PVC size vs quota ----------------------------------------------------------------------


def test_dataset_without_a_size_is_refused() -> None:
    """Quoted input: the datasets carried no size, so Fluid asked 100Pi."""
    values = _values("team-search-prod")
    values["datasets"][0].pop("size")
    [(path, message)] = _problems(values)
    assert path == "kubeai:datasets[0].size" and "required" in message.lower()


@pytest.mark.parametrize("size", ["0", "-1Gi", "lots"])
def test_dataset_size_must_be_a_positive_quantity(size: str) -> None:
    values = _values("team-search-prod")
    values["datasets"][0]["size"] = size
    [(path, _)] = _problems(values)
    assert path == "kubeai:datasets[0].size"


def test_dataset_larger_than_the_storage_quota_is_refused() -> None:
    values = _values("team-search-prod")  # storage quota: the 1Ti default
    values["datasets"][0]["size"] = "100Pi"
    [(path, message)] = _problems(values)
    assert path == "kubeai:datasets[0].size"
    assert "100Pi PVC" in message and "storage quota is 1Ti" in message


def test_datasets_together_above_the_storage_quota_are_refused() -> None:
    values = _values("team-search-prod")
    second = {**values["datasets"][0], "name": "click-logs-2", "size": "600Gi"}
    values["datasets"].append(second)
    [(path, message)] = _problems(values)
    assert path == "kubeai:quota.storage" and "click-logs 500Gi, click-logs-2 600Gi" in message


# -- Fluid cache pods vs Pod Security -------------------------------------------------------------


@pytest.mark.parametrize("stack", ["team-cv-prod", "team-search-prod"])
def test_cache_pods_in_the_team_namespace_are_refused(stack: str) -> None:
    """Quoted input: runtime pods in the Dataset's own (team, baseline) namespace."""
    values = _values(stack)
    team = values["team"]["name"]
    values["datasetCache"] = {"namespace": team}
    [(path, message)] = _problems(values)
    assert path == "kubeai:datasets[0].runtime"
    assert f"namespace {team!r}" in message and "'baseline' forbids them" in message


def test_a_cache_namespace_below_privileged_is_refused() -> None:
    values = _values("team-cv-prod")
    values["datasetCache"] = {"podSecurity": "baseline"}
    [(path, message)] = _problems(values)
    assert path == "kubeai:datasets[0].runtime" and "'kubeai-cache-cv'" in message


def test_a_privileged_team_namespace_never_hosts_the_cache() -> None:
    values = _values("team-cv-prod")
    values["team"]["podSecurity"] = "privileged"
    values["datasetCache"] = {"namespace": "cv"}
    [(path, message)] = _problems(values)
    assert path == "kubeai:datasetCache.namespace" and "privileged" in message


def test_the_default_cache_namespace_is_privileged_and_apart() -> None:
    team = parse_config(_values("team-cv-prod"))
    assert isinstance(team, TeamConfig)
    assert team.cache_namespace == "kubeai-cache-cv"
    assert team.dataset_cache.pod_security == "privileged"


# -- replicas vs the platform's nodes -------------------------------------------------------------


def test_more_gpus_per_replica_than_an_eks_node_holds_is_refused() -> None:
    """Quoted input: ``inferenceServices[0].gpus: 16`` on prod-eks (8-GPU nodes at most)."""
    values = _values("team-search-prod")
    values["inferenceServices"][0].update(gpus=16, replicas=1)
    values["quota"]["gpus"] = 16
    values["queue"]["capability"]["gpus"] = 16
    [(path, message)] = _platform_problems(values, "prod-eks")
    assert path == "kubeai:inferenceServices[0].gpus"
    assert "16 GPUs per replica" in message and "use at most 8" in message
    assert "gpu-h100: 8 x nvidia-h100" in message


def test_two_gpus_per_replica_on_one_gpu_gke_nodes_is_refused() -> None:
    """Quoted input: ``gpus: 2`` on prod-gke (1 GPU per node)."""
    values = _values("team-risk-prod")
    values["inferenceServices"][0].update(gpus=2, replicas=1)
    [(path, message)] = _platform_problems(values, "prod-gke")
    assert path == "kubeai:inferenceServices[0].gpus" and "use at most 1" in message


def test_a_gpu_type_the_platform_lacks_is_refused() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0]["gpuType"] = "nvidia-a100"
    [(path, message)] = _platform_problems(values, "prod-eks")
    assert path == "kubeai:inferenceServices[0].gpuType"
    assert "valid: nvidia-h100, nvidia-l4" in message


def test_a_node_selector_naming_a_missing_gpu_type_is_refused() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0]["nodeSelector"] = {"kubeai.dev/gpu-type": "nvidia-a100"}
    [(path, message)] = _platform_problems(values, "prod-eks")
    assert path == "kubeai:inferenceServices[0].nodeSelector" and "nvidia-a100" in message


def test_a_replica_larger_than_the_nodes_allocatable_is_refused() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0].update(gpuType="nvidia-l4", memory="30Gi")
    [(path, message)] = _platform_problems(values, "prod-eks")
    assert path == "kubeai:inferenceServices[0].memory"
    assert "pool 'gpu-l4'" in message and "offers 27Gi" in message


def test_a_gpu_type_that_exists_is_placed_on_its_pool() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0]["gpuType"] = "nvidia-h100"
    team = parse_config(values)
    platform = parse_config(_values("prod-eks"))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    team.check_against_platform(platform_outputs(platform))
    assert team.inference_services[0].node_selector_with_gpu_type == {
        "kubeai.dev/gpu-type": "nvidia-h100"
    }


def test_outputs_without_node_pools_skip_the_node_checks() -> None:
    values = _values("team-search-prod")
    values["inferenceServices"][0].update(gpus=16, replicas=1)
    values["quota"]["gpus"] = 16
    values["queue"]["capability"]["gpus"] = 16
    team = parse_config(values)
    platform = parse_config(_values("prod-eks"))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    older = platform_outputs(platform).model_copy(update={"node_pools": []})
    team.check_against_platform(older)


@pytest.mark.parametrize(
    "namespace", ["kube-system", "kubeai-system", "kubeai-cache-search", "default", "argo"]
)
def test_a_cache_namespace_of_kubernetes_the_platform_or_another_team_is_refused(
    namespace: str,
) -> None:
    """Quoted input: ``kubeai:datasetCache: {namespace: kube-system}`` rendered a privileged
    ``kube-system`` owned by the team stack (and its destroy would delete it)."""
    values = _values("team-cv-prod")
    values["datasetCache"] = {"namespace": namespace}
    problems = _problems(values)
    assert ("kubeai:datasetCache.namespace") in [p for p, _ in problems]
    message = dict(problems)["kubeai:datasetCache.namespace"]
    assert repr(namespace) in message and "kubeai-cache-cv" in message


@pytest.mark.parametrize("namespace", ["kubeai-cache-cv", "cv-cache"])
def test_the_teams_own_cache_namespaces_are_accepted(namespace: str) -> None:
    values = _values("team-cv-prod")
    values["datasetCache"] = {"namespace": namespace}
    team = parse_config(values)
    assert isinstance(team, TeamConfig) and team.cache_namespace == namespace
