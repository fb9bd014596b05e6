"""Each config-time check of ``infra.config.fit`` is necessary: with it off, the control plane
refuses (or never schedules) the very objects the stack would create.

Every test takes a bad stack (an example stack with the defect of issue 7 put back), shows that
``parse_config``/``check_against_platform`` refuse it with the key path, then builds the objects
from the same config *with the checks off* — ``TeamConfig.model_validate`` (field validation
only; ``team_problems`` and ``check_against_platform`` are simply not called, which no stack
file can ask for) fed to the product's own builders (``infra.tenancy.admission_manifests``,
``service_values`` rendered with ``helm template``, ``dataset_manifest``/``runtime_manifest``) —
and applies them with server-side apply to the real control plane: the namespace with its Pod
Security labels, LimitRange and ResourceQuota, then the Deployment, Pod or PVC. The assertions
are the plane's own refusals (LimitRanger, ResourceQuota and PodSecurity admission messages) or
a pod the scheduler leaves ``Unschedulable`` on KWOK nodes built from prod-eks's node pools.

Fluid's controllers cannot run here (no FUSE, no CSI), so the objects Fluid WOULD create are
built from its documented templates: the PVC of a Dataset (``fluid_pvc``: the Dataset's name,
storage class ``fluid``, its access modes, ``pvc.fluid.io/resources.requests.storage`` or 100Pi)
and the runtime pods (``fuse_pod``: a privileged container with ``SYS_ADMIN``, ``/dev/fuse`` and
the mount root as hostPath volumes; ``worker_pod``: the cache worker with its tiered-store path
as a hostPath volume and the runtime's ``spec.worker.resources``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.addons import triton as triton_addon
from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
)
from infra.controlplane.harness import ControlPlane
from infra.tenancy import (
    PVC_SIZE_ANNOTATION,
    admission_manifests,
    dataset_manifest,
    runtime_manifest,
    service_values,
)
from tests.cluster.test_controlplane import wait_until
from tests.infra.factories import stack_values
from tests.support.helm import REPO_ROOT, HelmTools

MANAGER = "kubeai-refusal-tests"
TEAM_LABEL = "kubeai.dev/team"
#: Fluid's default PVC size when a Dataset has no size annotation.
FLUID_DEFAULT_PVC_SIZE = "100Pi"
#: Path of each kind this module applies (``{ns}``: the object's namespace).
PATHS = {
    "Namespace": "/api/v1/namespaces",
    "LimitRange": "/api/v1/namespaces/{ns}/limitranges",
    "ResourceQuota": "/api/v1/namespaces/{ns}/resourcequotas",
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "HorizontalPodAutoscaler": "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
}


# -- helpers --------------------------------------------------------------------------------------


def apply(api: httpx.Client, manifest: dict[str, Any]) -> httpx.Response:
    """Server-side apply ``manifest`` (field manager ``MANAGER``, forced); returns the answer."""
    namespace = manifest["metadata"].get("namespace", "")
    path = PATHS[manifest["kind"]].format(ns=namespace)
    return api.patch(
        f"{path}/{manifest['metadata']['name']}",
        params={"fieldManager": MANAGER, "force": "true"},
        content=json.dumps(manifest),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )


def accepted(api: httpx.Client, manifest: dict[str, Any]) -> None:
    """Apply ``manifest`` and assert the control plane accepted it."""
    response = apply(api, manifest)
    assert response.is_success, (
        f"{manifest['kind']} {manifest['metadata']['name']}: {response.text}"
    )


def refused(api: httpx.Client, manifest: dict[str, Any]) -> str:
    """Apply ``manifest``, assert the control plane refused it (403/422); return its message."""
    response = apply(api, manifest)
    assert response.status_code in (403, 422), response.text
    return str(response.json()["message"])


def apply_admission(api: httpx.Client, config: TeamConfig) -> None:
    """The team's namespaces, ResourceQuota and LimitRange(s); waits until the quota is counted
    (ResourceQuota admission refuses every pod of a namespace whose quota has no status)."""
    for manifest in admission_manifests(config, TEAM_LABEL):
        accepted(api, manifest)
    path = PATHS["ResourceQuota"].format(ns=config.team.name) + "/kubeai-team"
    wait_until(
        lambda: api.get(path).json().get("status", {}).get("hard"),
        f"the ResourceQuota of {config.team.name} to be counted",
    )


def unchecked(values: dict[str, Any]) -> TeamConfig:
    """The team config with the cross-key and platform checks OFF (field validation only)."""
    return TeamConfig.model_validate(values)


def config_error(values: dict[str, Any], platform_stack: str | None = None) -> dict[str, str]:
    """The problems (key path -> message) the checks refuse ``values`` with."""
    with pytest.raises(ConfigError) as caught:
        team = parse_config(values)
        if platform_stack is not None:
            assert isinstance(team, TeamConfig)
            team.check_against_platform(platform_outputs(platform_config(platform_stack)))
    return dict(caught.value.problems)


def platform_config(stack: str) -> PlatformConfig:
    """The example platform stack ``stack``."""
    config = parse_config(stack_values(stack))
    assert isinstance(config, PlatformConfig)
    return config


def team_values(stack: str, name: str) -> dict[str, Any]:
    """Example team stack ``stack`` renamed to team ``name`` (one namespace per test)."""
    values = stack_values(stack)
    values["team"]["name"] = name
    return values


def rendered_service(
    helm_tools: HelmTools,
    tmp_path: Path,
    config: TeamConfig,
    platform_stack: str,
    index: int = 0,
) -> list[dict[str, Any]]:
    """``helm template`` of ``config``'s inference service ``index`` with the values the team
    stack gives it (``infra.tenancy.service_values``)."""
    platform = platform_outputs(platform_config(platform_stack))
    defaults = triton_addon.TritonDefaults.from_platform(platform, pull_secret=None)
    service = config.inference_services[index]
    values = service_values(defaults, service=service, config=config, artifact_secret=None)
    values["autoscaling"]["enabled"] = False  # a fixed replica count: no HPA controller here
    path = tmp_path / f"{service.name}-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return helm_tools.template(
        REPO_ROOT.joinpath(*triton_addon.CHART),
        release=service.name,
        namespace=config.team.name,
        values=[path],
    )


def apply_service(api: httpx.Client, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply every rendered object of a service; returns its Deployment."""
    for manifest in objects:
        accepted(api, manifest)
    return next(o for o in objects if o["kind"] == "Deployment")


def replica_failure(api: httpx.Client, deployment: dict[str, Any]) -> str:
    """The ``ReplicaFailure`` message of the Deployment's ReplicaSet (pods refused)."""
    namespace = deployment["metadata"]["namespace"]
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )

    def failure() -> str | None:
        sets = api.get(
            f"/apis/apps/v1/namespaces/{namespace}/replicasets",
            params={"labelSelector": selector},
        ).json()["items"]
        for item in sets:
            for condition in item.get("status", {}).get("conditions", []):
                if condition["type"] == "ReplicaFailure" and condition["status"] == "True":
                    return str(condition["message"])
        return None

    return str(wait_until(failure, f"the ReplicaSet of {deployment['metadata']['name']} to fail"))


def pods_of(api: httpx.Client, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Pods of ``deployment``."""
    namespace = deployment["metadata"]["namespace"]
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    response = api.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": selector})
    return list(response.json()["items"])


def unschedulable(api: httpx.Client, deployment: dict[str, Any]) -> str:
    """The scheduler's ``Unschedulable`` message for a pod of ``deployment``."""

    def message() -> str | None:
        for pod in pods_of(api, deployment):
            for condition in pod["status"].get("conditions", []):
                if condition["type"] == "PodScheduled" and condition.get("reason") == (
                    "Unschedulable"
                ):
                    return str(condition["message"])
        return None

    return str(wait_until(message, f"a pod of {deployment['metadata']['name']} Unschedulable"))


def scheduled(api: httpx.Client, deployment: dict[str, Any]) -> list[str]:
    """Waits until every pod of ``deployment`` is bound; returns their nodes."""
    want = deployment["spec"]["replicas"]

    def nodes() -> list[str] | None:
        placed = [p["spec"].get("nodeName") for p in pods_of(api, deployment)]
        return placed if len(placed) == want and all(placed) else None

    return list(wait_until(nodes, f"{deployment['metadata']['name']} to be scheduled"))


def fluid_pvc(dataset: dict[str, Any]) -> dict[str, Any]:
    """The PVC Fluid creates for a bound Dataset (named after it, storage class ``fluid``,
    size from ``pvc.fluid.io/resources.requests.storage``, else 100Pi)."""
    metadata = dataset["metadata"]
    size = metadata.get("annotations", {}).get(PVC_SIZE_ANNOTATION, FLUID_DEFAULT_PVC_SIZE)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
        "spec": {
            "accessModes": dataset["spec"]["accessModes"],
            "storageClassName": "fluid",
            "resources": {"requests": {"storage": size}},
        },
    }


def fuse_pod(runtime: dict[str, Any]) -> dict[str, Any]:
    """A FUSE pod of ``runtime`` as Fluid's FUSE DaemonSet creates it: privileged, SYS_ADMIN,
    ``/dev/fuse`` and the mount root as hostPath volumes, the runtime's fuse resources."""
    metadata = runtime["metadata"]
    resources = runtime["spec"].get("fuse", {}).get("resources", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{metadata['name']}-fuse-0", "namespace": metadata["namespace"]},
        "spec": {
            "containers": [
                {
                    "name": "fuse",
                    "image": "registry.invalid/fluid-fuse:1",
                    "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                    "resources": resources,
                    "volumeMounts": [
                        {"name": "fuse-device", "mountPath": "/dev/fuse"},
                        {
                            "name": "mount-root",
                            "mountPath": "/runtime-mnt",
                            "mountPropagation": "Bidirectional",
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "fuse-device", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}},
                {"name": "mount-root", "hostPath": {"path": "/runtime-mnt"}},
            ],
        },
    }


def worker_pod(runtime: dict[str, Any], *, resources: dict[str, Any] | None = None) -> dict:
    """A cache worker pod of ``runtime``: its tiered-store path as a hostPath volume and
    ``spec.worker.resources`` (or ``resources``)."""
    metadata = runtime["metadata"]
    level = runtime["spec"]["tieredstore"]["levels"][0]
    if resources is None:
        resources = runtime["spec"]["worker"]["resources"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{metadata['name']}-worker-0", "namespace": metadata["namespace"]},
        "spec": {
            "containers": [
                {
                    "name": "worker",
                    "image": "registry.invalid/fluid-worker:1",
                    "resources": resources,
                    "volumeMounts": [{"name": "cache", "mountPath": level["path"]}],
                }
            ],
            "volumes": [{"name": "cache", "hostPath": {"path": level["path"]}}],
        },
    }


# -- LimitRange -----------------------------------------------------------------------------------


def test_cpu_request_above_the_default_limit_needs_the_explicit_limit(
    control_plane: ControlPlane, helm_tools: HelmTools, tmp_path: Path
) -> None:
    """cv's resnet50 asks ``cpu: "4"`` under a LimitRange default limit of 2: accepted with the
    explicit limit the team stack now renders; refused as rendered before (no CPU limit)."""
    config = parse_config(team_values("team-cv-prod", "lr-default"))
    assert isinstance(config, TeamConfig)
    objects = rendered_service(helm_tools, tmp_path, config, "prod-ack")
    with control_plane.client() as api:
        apply_admission(api, config)
        deployment = apply_service(api, objects)
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "resnet50-fixed", "namespace": config.team.name},
            "spec": template["spec"],
        }
        accepted(api, pod)
        before = json.loads(json.dumps(pod))
        before["metadata"]["name"] = "resnet50-before"
        for container in before["spec"]["containers"]:
            container["resources"]["limits"].pop("cpu")
        message = refused(api, before)
    assert "cpu" in message and "must be less than or equal to cpu limit of 2" in message, message


def test_service_above_the_limit_range_max_is_refused_by_limit_ranger(
    control_plane: ControlPlane, helm_tools: HelmTools, tmp_path: Path
) -> None:
    values = team_values("team-cv-prod", "lr-max")
    values["limitRange"] = {"max": {"cpu": "2", "memory": "64Gi"}}
    problems = config_error(values)
    assert "LimitRange max 2" in problems["kubeai:inferenceServices[0].cpu"]
    config = unchecked(values)
    objects = rendered_service(helm_tools, tmp_path, config, "prod-ack")
    with control_plane.client() as api:
        apply_admission(api, config)
        message = replica_failure(api, apply_service(api, objects))
    assert "maximum cpu usage per Container is 2, but limit is 4" in message, message


def test_memory_cache_worker_needs_its_explicit_memory_limit(control_plane: ControlPlane) -> None:
    """search's Alluxio worker caches 32Gi in memory: its pod with the resources the runtime now
    carries is accepted; with the memory request alone (Fluid's default) LimitRanger's default
    limit of 4Gi makes it invalid."""
    config = parse_config(team_values("team-search-prod", "lr-cache"))
    assert isinstance(config, TeamConfig)
    runtime = runtime_manifest(config.datasets[0], config.cache_namespace)
    with control_plane.client() as api:
        apply_admission(api, config)
        accepted(api, worker_pod(runtime))
        before = worker_pod(runtime, resources={"requests": {"memory": "32Gi"}})
        before["metadata"]["name"] = "click-logs-worker-before"
        message = refused(api, before)
    assert "must be less than or equal to memory limit of 4Gi" in message, message


def test_memory_cache_worker_above_the_limit_range_max_is_refused(
    control_plane: ControlPlane,
) -> None:
    values = team_values("team-search-prod", "lr-cache-max")
    values["limitRange"] = {"max": {"cpu": "16", "memory": "16Gi"}}
    problems = config_error(values)
    assert "LimitRange max 16Gi" in problems["kubeai:datasets[0].runtime"]
    config = unchecked(values)
    runtime = runtime_manifest(config.datasets[0], config.cache_namespace)
    with control_plane.client() as api:
        apply_admission(api, config)
        message = refused(api, worker_pod(runtime))
    assert "maximum memory usage per Container is 16Gi" in message, message


# -- ResourceQuota --------------------------------------------------------------------------------


def test_service_above_the_quota_is_refused_by_resource_quota(
    control_plane: ControlPlane, helm_tools: HelmTools, tmp_path: Path
) -> None:
    values = team_values("team-search-prod", "quota-cpu")
    values["inferenceServices"][0].update(cpu="200", replicas=1)
    problems = config_error(values)
    assert "ResourceQuota allows 128" in problems["kubeai:inferenceServices[0].cpu"]
    config = unchecked(values)
    objects = rendered_service(helm_tools, tmp_path, config, "prod-eks")
    with control_plane.client() as api:
        apply_admission(api, config)
        message = replica_failure(api, apply_service(api, objects))
    assert "exceeded quota: kubeai-team" in message and "requests.cpu" in message, message


@pytest.mark.parametrize(("size", "wanted"), [(None, "100Pi"), ("2Ti", "2Ti")])
def test_dataset_pvc_above_the_storage_quota_is_refused(
    control_plane: ControlPlane, size: str | None, wanted: str
) -> None:
    """A Dataset without a size (quoted input) makes Fluid ask 100Pi; a size above the quota
    is refused the same way. The fixed stack's 500Gi claim is accepted."""
    name = "pvc-none" if size is None else "pvc-big"
    values = team_values("team-search-prod", name)
    if size is None:
        values["datasets"][0].pop("size")
        problems = config_error(values)
        assert "kubeai:datasets[0].size" in problems
        values["datasets"][0]["size"] = "500Gi"  # only for model_validate; annotation dropped
    else:
        values["datasets"][0]["size"] = size
        problems = config_error(values)
        assert "storage quota is 1Ti" in problems["kubeai:datasets[0].size"]
    config = unchecked(values)
    dataset = dataset_manifest(config.datasets[0], config.team.name)
    if size is None:
        dataset["metadata"].pop("annotations")  # as the team stack rendered it before
    with control_plane.client() as api:
        apply_admission(api, config)
        message = refused(api, fluid_pvc(dataset))
        if size is None:
            fixed = parse_config(team_values("team-search-prod", name))
            assert isinstance(fixed, TeamConfig)
            good = fluid_pvc(dataset_manifest(fixed.datasets[0], fixed.team.name))
            good["metadata"]["name"] = "click-logs-fixed"
            assert good["spec"]["resources"]["requests"]["storage"] == "500Gi"
            accepted(api, good)
    assert "exceeded quota: kubeai-team" in message, message
    assert f"requested: requests.storage={wanted}" in message, message


# -- Pod Security ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["team-cv-prod", "team-search-prod"])
def test_cache_pods_in_a_team_namespace_are_refused_by_pod_security(
    control_plane: ControlPlane, stack: str
) -> None:
    """Quoted input: the runtime pods in the Dataset's own (team) namespace; the same pods in
    the privileged cache namespace the team stack now uses are accepted."""
    name = f"psa-{stack.split('-')[1]}"
    values = team_values(stack, name)
    values["datasetCache"] = {"namespace": name}
    problems = config_error(values)
    assert "forbids them" in problems["kubeai:datasets[0].runtime"]
    config = unchecked(values)
    runtime = runtime_manifest(config.datasets[0], name)
    fixed = parse_config(team_values(stack, name))
    assert isinstance(fixed, TeamConfig)
    good = runtime_manifest(fixed.datasets[0], fixed.cache_namespace)
    with control_plane.client() as api:
        apply_admission(api, fixed)  # the team namespace, and the cache namespace beside it
        fuse = refused(api, fuse_pod(runtime))
        worker = refused(api, worker_pod(runtime))
        accepted(api, fuse_pod(good))
        accepted(api, worker_pod(good))
    level = config.team.pod_security
    assert f'violates PodSecurity "{level}:latest"' in fuse, fuse
    assert "privileged" in fuse and "hostPath volumes" in fuse, fuse
    assert "hostPath volumes" in worker, worker


# -- replicas vs nodes ----------------------------------------------------------------------------


#: Replicas no node can hold: (team stack, namespace, service updates, platform stack, the key
#: path refused with, part of its message, part of the scheduler's message).
TOO_BIG = [
    # ``gpus: 16`` on prod-eks (8-GPU nodes at most); quota and queue raised to 16 so only the
    # node size is wrong.
    (
        "team-search-prod",
        "gpus-16",
        {"gpus": 16, "replicas": 1},
        "prod-eks",
        "kubeai:inferenceServices[0].gpus",
        "use at most 8",
        "Insufficient nvidia.com/gpu",
    ),
    # ``gpus: 2`` on prod-gke, whose every GPU node is a 1-GPU nvidia-l4: the session's plane
    # also holds 8-GPU H100 nodes, so the pod is held to the L4 nodes as all of prod-gke's are.
    (
        "team-risk-prod",
        "gpus-2",
        {"gpus": 2, "replicas": 1, "gpuType": "nvidia-l4"},
        "prod-gke",
        "kubeai:inferenceServices[0].gpus",
        "use at most 1",
        "Insufficient nvidia.com/gpu",
    ),
    # 30Gi per replica on prod-eks's L4 nodes, which offer 27Gi (their declared allocatable,
    # which the KWOK nodes carry).
    (
        "team-search-prod",
        "alloc-mem",
        {"gpuType": "nvidia-l4", "memory": "30Gi", "replicas": 1},
        "prod-eks",
        "kubeai:inferenceServices[0].memory",
        "offers 27Gi",
        "Insufficient memory",
    ),
]


@pytest.mark.parametrize(
    ("stack", "name", "update", "platform", "key", "refusal", "scheduler"), TOO_BIG
)
def test_replica_larger_than_any_node_stays_pending(
    control_plane: ControlPlane,
    kwok_nodes: list[dict[str, Any]],
    helm_tools: HelmTools,
    tmp_path: Path,
    stack: str,
    name: str,
    update: dict[str, Any],
    platform: str,
    key: str,
    refusal: str,
    scheduler: str,
) -> None:
    values = team_values(stack, name)
    values["inferenceServices"][0].update(update)
    wanted = max(values["quota"]["gpus"], int(update.get("gpus", 0)))
    values["quota"]["gpus"] = values["queue"]["capability"]["gpus"] = wanted
    problems = config_error(values, platform)
    assert refusal in problems[key], problems
    objects = rendered_service(helm_tools, tmp_path, unchecked(values), platform)
    with control_plane.client() as api:
        apply_admission(api, unchecked(values))
        message = unschedulable(api, apply_service(api, objects))
    assert scheduler in message, message


def test_gpu_type_the_platform_lacks_stays_pending(
    control_plane: ControlPlane,
    kwok_nodes: list[dict[str, Any]],
    helm_tools: HelmTools,
    tmp_path: Path,
) -> None:
    """A GPU type prod-eks lacks: never scheduled; the type it has is placed on its pool."""
    values = team_values("team-search-prod", "gpu-type")
    values["inferenceServices"][0].update(gpuType="nvidia-a100", replicas=1)
    problems = config_error(values, "prod-eks")
    assert "valid: nvidia-h100, nvidia-l4" in problems["kubeai:inferenceServices[0].gpuType"]
    config = unchecked(values)
    objects = rendered_service(helm_tools, tmp_path, config, "prod-eks")
    values["inferenceServices"][0]["gpuType"] = "nvidia-h100"
    values["inferenceServices"][0]["name"] = "ranker-h100"
    good = parse_config(values)
    assert isinstance(good, TeamConfig)
    good_objects = rendered_service(helm_tools, tmp_path, good, "prod-eks")
    with control_plane.client() as api:
        apply_admission(api, config)
        message = unschedulable(api, apply_service(api, objects))
        placed = scheduled(api, apply_service(api, good_objects))
    assert "didn't match Pod's node affinity/selector" in message, message
    assert all(node.startswith("kwok-gpu-h100-") for node in placed), placed
