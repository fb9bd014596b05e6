"""The real control plane starts, runs KWOK nodes from the stacks' node pools and schedules GPU
workloads only where the pool's taints and ``nvidia.com/gpu`` capacity allow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from infra.config import GPU_PRESENT_LABEL, GPU_RESOURCE, GPU_TAINT_KEY
from infra.controlplane.harness import ControlPlane

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
SCHEDULE_TIMEOUT_S = 60.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = SCHEDULE_TIMEOUT_S) -> Any:
    """Poll ``check`` until it returns something truthy; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def deployment(name: str, replicas: int, *, gpus: int = 0, tolerate_gpu: bool = False) -> dict:
    """A Deployment of ``replicas`` pods, each asking ``gpus`` GPUs (and 100m CPU)."""
    resources: dict[str, dict[str, str]] = {"requests": {"cpu": "100m", "memory": "64Mi"}}
    if gpus:
        resources["requests"][GPU_RESOURCE] = str(gpus)
        resources["limits"] = {GPU_RESOURCE: str(gpus)}
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "registry.invalid/noop:1", "resources": resources}]
    }
    if tolerate_gpu:
        spec["tolerations"] = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def create(api: httpx.Client, manifest: dict) -> None:
    """POST ``manifest`` to the default namespace's Deployments; asserts it was accepted."""
    response = api.post(DEPLOYMENTS, json=manifest)
    assert response.status_code == 201, response.text


def available(api: httpx.Client, name: str) -> bool:
    """Whether Deployment ``name`` reports ``Available=True`` with every replica available."""
    status = api.get(f"{DEPLOYMENTS}/{name}").json().get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return conditions.get("Available") == "True" and status.get("availableReplicas") == status.get(
        "replicas"
    )


def pods(api: httpx.Client, app: str) -> list[dict]:
    """Pods of the Deployment labelled ``app``."""
    response = api.get("/api/v1/namespaces/default/pods", params={"labelSelector": f"app={app}"})
    return list(response.json()["items"])


def node_labels(api: httpx.Client) -> dict[str, dict[str, str]]:
    """Labels of every node, by node name."""
    items = api.get("/api/v1/nodes").json()["items"]
    return {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in items}


def test_apiserver_ready(control_plane: ControlPlane) -> None:
    with control_plane.client() as api:
        response = api.get("/readyz", params={"verbose": "true"})
    assert response.status_code == 200, response.text
    assert response.text.rstrip().endswith("readyz check passed")


def test_apiserver_reports_pinned_version(control_plane: ControlPlane) -> None:
    with control_plane.client() as api:
        version = api.get("/version").json()
    assert version["gitVersion"] == "v1.35.4"
    assert (version["major"], version["minor"]) == ("1", "35")


def test_kwok_nodes_ready_with_pool_shape(
    control_plane: ControlPlane, kwok_nodes: list[dict]
) -> None:
    with control_plane.client() as api:
        live = {n["metadata"]["name"]: n for n in api.get("/api/v1/nodes").json()["items"]}
    for wanted in kwok_nodes:
        node = live[wanted["metadata"]["name"]]
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert conditions["Ready"] == "True", node["metadata"]["name"]
        assert wanted["metadata"]["labels"].items() <= node["metadata"]["labels"].items()
        assert node["spec"].get("taints", []) == wanted["spec"].get("taints", [])
        gpus = wanted["status"]["allocatable"].get(GPU_RESOURCE)
        assert node["status"]["allocatable"].get(GPU_RESOURCE) == gpus
    gpu_nodes = [n for n in kwok_nodes if GPU_PRESENT_LABEL in n["metadata"]["labels"]]
    assert {n["metadata"]["labels"]["kubeai.dev/pool"] for n in gpu_nodes} == {"gpu-l4", "gpu-h100"}
    assert {n["metadata"]["labels"]["kubeai.dev/pool"] for n in kwok_nodes} >= {"cpu", "system"}


def test_gpu_deployment_with_toleration_lands_on_gpu_nodes_only(
    control_plane: ControlPlane, kwok_nodes: list[dict]
) -> None:
    with control_plane.client() as api:
        create(api, deployment("gpu-tolerating", 3, gpus=1, tolerate_gpu=True))
        wait_until(lambda: available(api, "gpu-tolerating"), "gpu-tolerating to be Available")
        labels = node_labels(api)
        placed = [p["spec"]["nodeName"] for p in pods(api, "gpu-tolerating")]
    assert len(placed) == 3
    assert all(labels[node].get(GPU_PRESENT_LABEL) == "true" for node in placed), placed


def test_gpu_deployment_without_toleration_stays_pending(
    control_plane: ControlPlane, kwok_nodes: list[dict]
) -> None:
    def unschedulable(api: httpx.Client) -> list[dict]:
        return [
            p
            for p in pods(api, "gpu-intolerant")
            if any(
                c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                for c in p["status"].get("conditions", [])
            )
        ]

    with control_plane.client() as api:
        create(api, deployment("gpu-intolerant", 1, gpus=1))
        pod = wait_until(lambda: unschedulable(api), "the scheduler to refuse gpu-intolerant")[0]
        assert not available(api, "gpu-intolerant")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    message = next(c["message"] for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert "untolerated taint" in message and GPU_TAINT_KEY in message, message


def test_cpu_deployment_stays_off_gpu_nodes(
    control_plane: ControlPlane, kwok_nodes: list[dict]
) -> None:
    with control_plane.client() as api:
        create(api, deployment("cpu-only", 4))
        wait_until(lambda: available(api, "cpu-only"), "cpu-only to be Available")
        labels = node_labels(api)
        placed = [p["spec"]["nodeName"] for p in pods(api, "cpu-only")]
    assert len(placed) == 4
    assert not any(GPU_PRESENT_LABEL in labels[node] for node in placed), placed
