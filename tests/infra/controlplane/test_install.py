"""The installer's pure parts: Helm's install order and hooks, the plan's order (Namespaces, CRDs,
the rest, webhooks apart), upstream releases and kustomize directories expanded from the pinned
files, and the scheduling checks (DaemonSet node matching, GPU placement, Available)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.config import GPU_RESOURCE
from infra.controlplane.install import (
    STAND_IN_LABEL,
    InstallError,
    InstallPlan,
    Manifest,
    expand_declared,
    expand_release,
    helm_install_order,
    order,
    pinned_chart,
    placement_problems,
    plans_for,
    provision_volumes,
    runs_on,
    wait_available,
    workload_problem,
)
from infra.controlplane.nodes import node_manifest
from infra.versions import FLUID, GPU_OPERATOR, VOLCANO
from tests.support.helm import HelmTools

GPU_PRESENT = {"nvidia.com/gpu.present": "true"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
CPU_NODE = node_manifest("cpu-0", labels={"kubeai.dev/pool": "cpu"}, taints=[])
L4_NODE = node_manifest(
    "l4-0",
    labels={"kubeai.dev/pool": "gpu-l4", "kubeai.dev/gpu-type": "nvidia-l4", **GPU_PRESENT},
    taints=[GPU_TAINT],
    gpus=1,
)
H100_NODE = node_manifest(
    "h100-0",
    labels={"kubeai.dev/pool": "gpu-h100", "kubeai.dev/gpu-type": "nvidia-h100", **GPU_PRESENT},
    taints=[GPU_TAINT],
    gpus=8,
)
NODES = [CPU_NODE, L4_NODE, H100_NODE]


def obj(kind: str, name: str, hook: str | None = None, weight: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if hook:
        meta["annotations"] = {"helm.sh/hook": hook, "helm.sh/hook-weight": str(weight)}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def names(docs: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in docs]


def pod(name: str, node: str, *, gpus: int = 0, owner: str = "ReplicaSet", **spec: Any) -> dict:
    resources = {"limits": {GPU_RESOURCE: str(gpus)}} if gpus else {}
    return {
        "metadata": {"name": name, "namespace": "t", "ownerReferences": [{"kind": owner}]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "resources": resources}], **spec},
    }


# -- order ---------------------------------------------------------------------------------------


def test_helm_order_runs_install_hooks_around_the_release_by_weight() -> None:
    docs = [
        obj("Deployment", "app"),
        obj("Job", "post", "post-install"),
        obj("Job", "upgrade-only", "pre-upgrade"),
        obj("Job", "pre-late", "pre-install,pre-upgrade", weight=5),
        obj("ServiceAccount", "pre-early", "pre-install", weight=0),
        obj("Pod", "test", "test"),
        obj("Job", "delete", "post-delete"),
        obj("ServiceAccount", "sa"),
        obj("Namespace", "ns"),
    ]
    assert names(helm_install_order(docs)) == ["pre-early", "pre-late", "ns", "sa", "app", "post"]
    assert names(helm_install_order(docs, run_hooks=False)) == ["ns", "sa", "app"]


def test_helm_order_puts_unknown_kinds_after_known_ones_stably() -> None:
    docs = [obj("Queue", "q"), obj("Service", "s"), obj("Dataset", "d"), obj("ConfigMap", "c")]
    assert names(helm_install_order(docs)) == ["c", "s", "q", "d"]


def test_order_hoists_namespaces_then_crds_and_keeps_webhooks_apart() -> None:
    manifests = [
        Manifest(obj(kind, name), "x")
        for kind, name in [
            ("ServiceAccount", "sa"),
            ("MutatingWebhookConfiguration", "mutate"),
            ("CustomResourceDefinition", "crd-a"),
            ("Queue", "queue"),
            ("Namespace", "ns"),
            ("ValidatingWebhookConfiguration", "validate"),
            ("CustomResourceDefinition", "crd-b"),
            ("Deployment", "app"),
        ]
    ]
    objects, webhooks = order(manifests)
    assert [m.obj["metadata"]["name"] for m in objects] == [
        "ns",
        "crd-a",
        "crd-b",
        "sa",
        "queue",
        "app",
    ]
    assert [m.obj["metadata"]["name"] for m in webhooks] == ["mutate", "validate"]


def test_manifest_key_names_kind_namespace_and_name() -> None:
    manifest = Manifest({"kind": "Role", "metadata": {"name": "r", "namespace": "cv"}}, "o")
    assert manifest.key == "Role cv/r"
    assert Manifest({"kind": "Namespace", "metadata": {"name": "cv"}}, "o").key == "Namespace cv"


# -- expansion -----------------------------------------------------------------------------------


def test_pinned_chart_matches_name_and_version_with_or_without_v() -> None:
    assert pinned_chart("volcano", "1.15.1") is VOLCANO
    assert pinned_chart("gpu-operator", "26.7.0") is GPU_OPERATOR
    with pytest.raises(InstallError, match=r"'fluid' version '9\.9\.9' is not pinned"):
        pinned_chart("fluid", "9.9.9")


def test_declared_kubernetes_type_without_expansion_is_an_error() -> None:
    doc = {"pulumiType": "kubernetes:yaml/v2:ConfigGroup", "metadata": {"name": "g"}, "inputs": {}}
    with pytest.raises(InstallError, match="g: cannot install declared resource type"):
        expand_declared(doc)
    cloud = {"pulumiType": "aws:eks/nodeGroup:NodeGroup", "metadata": {"name": "p"}, "inputs": {}}
    assert expand_declared(cloud) == []


@pytest.fixture
def pinned_helm(helm_tools: HelmTools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEAI_HELM", str(helm_tools.helm3))


def test_release_includes_the_crds_folder_unless_skip_crds(pinned_helm: None) -> None:
    inputs = {"chart": "fluid", "version": FLUID.version, "namespace": "fluid-system"}
    with_crds = expand_release("fluid-release", inputs)
    without = expand_release("fluid-release", {**inputs, "skipCrds": True})
    crds = [m for m in with_crds if m.kind == "CustomResourceDefinition"]
    assert len(crds) == 13 and all(m.obj["spec"]["group"] == "data.fluid.io" for m in crds)
    assert not [m for m in without if m.kind == "CustomResourceDefinition"]
    assert len(with_crds) == len(without) + 13


def test_release_runs_install_hooks_first_in_its_namespace(pinned_helm: None) -> None:
    inputs = {"chart": "volcano", "version": VOLCANO.version, "name": "volcano"}
    inputs |= {"namespace": "volcano-system", "values": {}}
    manifests = expand_release("volcano-release", inputs)
    assert {m.namespace for m in manifests} == {"volcano-system"}
    assert {m.origin for m in manifests} == {"volcano-release"}
    # The admission-init hook (pre-install): its RBAC (weight 0), then its Job (weight 5).
    assert manifests[3].key == "Job volcano-system/volcano-admission-init"
    assert [m.kind for m in manifests[:3]] == ["ServiceAccount", "Role", "RoleBinding"]
    webhooks = [m for m in manifests if "Webhook" in m.kind]
    assert webhooks and all(
        w["clientConfig"]["service"]["name"] == "volcano-admission-service"
        for m in webhooks
        for w in m.obj["webhooks"]
    )


def test_release_create_namespace_adds_it_first(pinned_helm: None) -> None:
    inputs = {"chart": "fluid", "version": FLUID.version, "namespace": "f", "createNamespace": True}
    manifests = expand_release("fluid-release", inputs)
    assert manifests[0].key == "Namespace f"


def test_local_platform_plan_expands_releases_and_directories(
    pinned_helm: None, tmp_path: Path
) -> None:
    (plan,) = plans_for("local", tmp_path)
    origins = {m.origin for m in plan.objects}
    assert {"volcano-release", "fluid-release", "training-operator-manifests"} <= origins
    assert {"argo-manifests", "glue-release"} <= origins
    kinds = [m.kind for m in plan.objects]
    first_other = next(
        i for i, k in enumerate(kinds) if k not in ("Namespace", "CustomResourceDefinition")
    )
    assert kinds[:first_other].count("Namespace") == kinds.count("Namespace")
    assert kinds.count("CustomResourceDefinition") == kinds[:first_other].count(
        "CustomResourceDefinition"
    )
    crd_groups = {
        m.obj["spec"]["group"] for m in plan.objects if m.kind == "CustomResourceDefinition"
    }
    assert {"batch.volcano.sh", "data.fluid.io", "kubeflow.org", "argoproj.io"} <= crd_groups
    assert plan.webhooks and all(m.kind.endswith("WebhookConfiguration") for m in plan.webhooks)
    assert {n["metadata"]["labels"]["kubeai.dev/pool"] for n in plan.nodes} >= {"system"}


def test_team_stack_plans_its_platform_first(pinned_helm: None, tmp_path: Path) -> None:
    plans = plans_for("team-search-prod", tmp_path)
    assert [p.stack for p in plans] == ["prod-eks", "team-search-prod"]
    assert plans[0].nodes and not plans[1].nodes and plans[0].cloud
    assert plans[1].objects[0].key == "Namespace search"


# -- scheduling checks ---------------------------------------------------------------------------


def test_runs_on_checks_selector_affinity_and_taints() -> None:
    assert [n["metadata"]["name"] for n in NODES if runs_on({}, n)] == ["cpu-0"]
    everywhere = {"tolerations": [{"operator": "Exists"}]}
    assert all(runs_on(everywhere, n) for n in NODES)
    gpu_only = {"nodeSelector": {"nvidia.com/gpu.present": "true"}, "tolerations": [GPU_TOLERATION]}
    assert [n["metadata"]["name"] for n in NODES if runs_on(gpu_only, n)] == ["l4-0", "h100-0"]
    affinity = {
        "tolerations": [GPU_TOLERATION],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubeai.dev/gpu-type",
                                    "operator": "In",
                                    "values": ["nvidia-h100"],
                                }
                            ]
                        }
                    ]
                }
            }
        },
    }
    assert [n["metadata"]["name"] for n in NODES if runs_on(affinity, n)] == ["h100-0"]
    wrong_value = {"tolerations": [{"key": "nvidia.com/gpu", "value": "absent"}]}
    assert not runs_on(wrong_value, L4_NODE)


def test_placement_flags_gpu_pods_off_their_pool_and_cpu_pods_on_gpu_nodes() -> None:
    h100 = {"nodeSelector": {"kubeai.dev/gpu-type": "nvidia-h100"}, "tolerations": [GPU_TOLERATION]}
    pods = [
        pod("ok-gpu", "h100-0", gpus=1, **h100),
        pod("ok-cpu", "cpu-0"),
        pod("agent", "l4-0", owner="DaemonSet"),
        pod("pending", ""),
        pod("gpu-on-cpu", "cpu-0", gpus=1),
        pod("wrong-pool", "l4-0", gpus=1, **h100),
        pod("cpu-on-gpu", "l4-0", tolerations=[GPU_TOLERATION]),
    ]
    problems = placement_problems(pods, NODES)
    assert [p.split(":")[0] for p in problems] == [
        "pod t/gpu-on-cpu on cpu-0",
        "pod t/wrong-pool on l4-0",
        "pod t/cpu-on-gpu on l4-0",
    ]


def test_workload_problem_for_deployments_and_daemonsets() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    assert "ready/available/updated [2, 2, 0] of 2" in str(workload_problem(deployment, NODES))
    deployment["status"]["updatedReplicas"] = 2
    assert workload_problem(deployment, NODES) is None
    stale = {**deployment, "status": {**deployment["status"], "observedGeneration": 1}}
    assert workload_problem(stale, NODES) == "not observed by its controller yet"
    failing = {
        **deployment,
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {"type": "ReplicaFailure", "status": "True", "message": "pods are forbidden"}
            ],
        },
    }
    assert "ReplicaFailure=True: pods are forbidden" in str(workload_problem(failing, NODES))
    plugin = {
        "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.present": "true"},
                    "tolerations": [GPU_TOLERATION],
                }
            }
        },
        "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2},
    }
    assert "want 2 (matching nodes)" in str(workload_problem(plugin, NODES))
    plugin["status"]["numberAvailable"] = 2
    assert workload_problem(plugin, NODES) is None
    assert "want 0" in str(workload_problem(plugin, [CPU_NODE]))


# -- polling against a fake apiserver --------------------------------------------------------------


def fake_api(routes: dict[str, Any], posted: list[dict[str, Any]]) -> httpx.Client:
    """An ``httpx.Client`` answering GETs from ``routes`` (path -> JSON) and recording POSTs."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.append(json.loads(request.content))
            return httpx.Response(201, json=posted[-1])
        return httpx.Response(200, json=routes[request.url.path])

    return httpx.Client(base_url="https://apiserver.invalid", transport=httpx.MockTransport(handle))


PENDING_CLAIM = {
    "metadata": {"name": "data", "namespace": "kubeai-system", "uid": "u-1"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    "status": {"phase": "Pending"},
}


def test_provision_volumes_binds_each_pending_claim_to_a_volume_made_for_it() -> None:
    bound = {**PENDING_CLAIM, "status": {"phase": "Bound"}, "metadata": {"name": "b", "uid": "u"}}
    posted: list[dict[str, Any]] = []
    api = fake_api({"/api/v1/persistentvolumeclaims": {"items": [PENDING_CLAIM, bound]}}, posted)
    assert provision_volumes(api) == ["pvc-u-1"]
    (volume,) = posted
    assert volume["spec"]["claimRef"] == {
        "namespace": "kubeai-system",
        "name": "data",
        "uid": "u-1",
    }
    assert volume["spec"]["capacity"] == {"storage": "1Gi"}
    assert volume["spec"]["storageClassName"] == ""
    assert volume["metadata"]["labels"] == {STAND_IN_LABEL: "provisioner"}


def test_wait_available_returns_early_when_admission_refuses_the_pods() -> None:
    refused = {
        "kind": "Deployment",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [{"type": "ReplicaFailure", "status": "True", "message": "forbidden"}],
        },
    }
    routes = {
        "/api/v1/persistentvolumeclaims": {"items": []},
        "/api/v1/nodes": {"items": [CPU_NODE]},
        "/apis/apps/v1/namespaces/cv/deployments/resnet50": refused,
    }
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "resnet50"}}
    plan = InstallPlan(stack="team", objects=[Manifest(manifest, "svc", "cv")])
    started = time.monotonic()
    problems = wait_available(fake_api(routes, []), [plan], timeout=60, refused_for=0.5)
    assert time.monotonic() - started < 10
    assert "ReplicaFailure=True: forbidden" in problems["Deployment resnet50"]
