"""Behaviour of the triton-inference chart per scenario: tritonserver in explicit model-control
mode beside the serving agent on a shared model repository, probes, Service ports, GPUs and
their tolerations, autoscaling and disruption budget, and the agent's environment checked
against the agent's own settings class."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from glue.serving_agent.endpoint import LIVE_PATH, READY_PATH, AgentEndpoint
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.readiness import ReadinessGate, assess
from glue.serving_agent.settings import AgentSettings
from infra.quantity import parse_quantity
from tests.charts.conftest import NAMESPACE, Render
from tests.charts.support import (
    Objects,
    by_kind,
    chart_path,
    component,
    container,
    env_of,
    literal_env,
    one,
    pod_spec,
    scenario_params,
    scenarios,
    settings_from_env,
)
from tests.glue.serving_agent.support import desired, row
from tests.support.helm import HelmTools

CHART = "triton-inference"
CI = chart_path(CHART) / "ci"
PREFIX = "KUBEAI_AGENT_"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def _triton(render: Render, scenario: str, release: str = "svc") -> Objects:
    return render(CHART, CI / f"{scenario}-values.yaml", release=release)


def _scenario_values(values: Path) -> dict[str, Any]:
    return yaml.safe_load(values.read_text()) or {}


def _gpu_count(values: Path) -> int:
    return int(_scenario_values(values).get("gpu", {}).get("count", 0))


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """True when one toleration matches the taint (Kubernetes' matching rules)."""
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value") == taint["value"]:
            return True
    return False


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_agent_env_is_what_the_agent_reads(
    render: Render, monkeypatch: pytest.MonkeyPatch, chart: str, values: Path
) -> None:
    """Every KUBEAI_AGENT_* variable the chart sets is an AgentSettings field and the settings
    validate with them; the agent talks to its own tritonserver over loopback and shares its
    model repository path."""
    objects = render(chart, values)
    agent = container(objects, "serving-agent")
    env = literal_env(agent)
    settings = settings_from_env(AgentSettings, PREFIX, env, monkeypatch)
    assert settings.triton_url == "http://127.0.0.1:8000"
    assert str(settings.model_repository) == "/models"
    assert settings.metrics_port == agent["ports"][0]["containerPort"]
    assert env_of(agent)[f"{PREFIX}POD"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    expected_service = _scenario_values(values).get("registry", {}).get("service") or "svc"
    assert settings.service == expected_service
    # The agent's disk budget is the model repository volume's size limit, in bytes.
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    size_limit = volumes["model-repository"]["emptyDir"]["sizeLimit"]
    assert settings.repository_budget_bytes == int(parse_quantity(size_limit))


@pytest.mark.parametrize(
    ("size_limit", "budget"), [("1.5Gi", 1610612736), ("21474836480", 21474836480), ("null", None)]
)
def test_agent_budget_follows_the_model_repository_size_limit(
    helm_tools: HelmTools,
    monkeypatch: pytest.MonkeyPatch,
    size_limit: str,
    budget: int | None,
) -> None:
    """A quantity or a plain byte count reaches the agent as its budget; without a size limit
    the volume and the agent are both unbounded (the agent's budget is the free space)."""
    objects = helm_tools.template(
        chart_path(CHART),
        release="svc",
        namespace=NAMESPACE,
        values=[CI / "default-values.yaml"],
        set_values=[f"modelRepository.sizeLimit={size_limit}"],
    )
    agent = container(objects, "serving-agent")
    settings = settings_from_env(AgentSettings, PREFIX, literal_env(agent), monkeypatch)
    assert settings.repository_budget_bytes == budget
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    repository = volumes["model-repository"]["emptyDir"]
    if budget is None:
        assert "sizeLimit" not in repository
        assert f"{PREFIX}REPOSITORY_BUDGET_BYTES" not in env_of(agent)
    else:
        assert parse_quantity(repository["sizeLimit"]) == budget


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_every_object_names_its_inference_service(render: Render, chart: str, values: Path) -> None:
    """Every object, and the pod template, carries ``kubeai.dev/inference-service`` with the
    registry's name of the service (``registry.service``, default the release name); the label
    stays out of the selector."""
    objects = render(chart, values)
    expected = _scenario_values(values).get("registry", {}).get("service") or "svc"
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels.get("kubeai.dev/inference-service") == expected, obj["kind"]
    template = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert template["kubeai.dev/inference-service"] == expected
    selector = one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert "kubeai.dev/inference-service" not in selector


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_tritonserver_runs_explicit_mode_on_the_shared_repository(
    render: Render, chart: str, values: Path
) -> None:
    """tritonserver: pinned image, explicit model control, no auto-complete, latency summaries,
    /models from the emptyDir the agent writes (read-only for Triton), fixed ports that the
    agent's Triton and metrics URLs name, probes on the v2 health endpoints, graceful shutdown
    within the grace period."""
    objects = render(chart, values)
    triton = container(objects, "tritonserver")
    assert triton["image"].split("@")[0] == TRITON_IMAGE
    assert triton["command"] == ["tritonserver"]
    args = triton["args"]
    for flag in (
        "--model-repository=/models",
        "--model-control-mode=explicit",
        "--disable-auto-complete-config",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--metrics-config=summary_latencies=true",  # per-version p99 for the canary gate
    ):
        assert flag in args
    assert sum(a.startswith("--strict-readiness=") for a in args) == 1
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == {
        "http": 8000,
        "grpc": 8001,
        "metrics": 8002,
    }
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["startupProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}

    agent = container(objects, "serving-agent")
    assert agent["command"] == ["python", "-m", "glue.serving_agent"]
    ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    agent_env = literal_env(agent)
    assert agent_env[f"{PREFIX}TRITON_URL"] == f"http://127.0.0.1:{ports['http']}"
    # Repository control over gRPC: a load never holds one of Triton's HTTP worker threads.
    assert agent_env[f"{PREFIX}TRITON_GRPC_URL"] == f"127.0.0.1:{ports['grpc']}"
    assert agent_env[f"{PREFIX}TRITON_METRICS_URL"] == (
        f"http://127.0.0.1:{ports['metrics']}/metrics"
    )
    triton_mounts = {m["mountPath"]: m for m in triton["volumeMounts"]}
    agent_mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert triton_mounts["/models"]["name"] == agent_mounts["/models"]["name"]
    assert triton_mounts["/models"]["readOnly"] is True
    assert not agent_mounts["/models"].get("readOnly", False)
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert "emptyDir" in volumes[triton_mounts["/models"]["name"]]
    assert volumes[triton_mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"

    spec = pod_spec(objects)
    exit_timeout = int(next(a for a in args if a.startswith("--exit-timeout-secs=")).split("=")[1])
    pre_stop = triton.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert spec["terminationGracePeriodSeconds"] >= exit_timeout + pre_stop


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_pod_readiness_gates_on_the_agents_readyz(render: Render, chart: str, values: Path) -> None:
    """The serving-agent container's readiness probe is the agent's ``/readyz`` on the port the
    agent serves (``KUBEAI_AGENT_METRICS_PORT``), its liveness ``/healthz`` on the same port.
    Every container has a readiness probe and Kubernetes makes a pod Ready only when all its
    containers are, so tritonserver's ``/v2/health/ready`` (the server answers, with an empty
    repository too) cannot make the pod Ready on its own. Probe timing comes from the values."""
    objects = render(chart, values)
    agent = container(objects, "serving-agent")
    ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
    served_port = int(literal_env(agent)[f"{PREFIX}METRICS_PORT"])
    readiness = agent["readinessProbe"]
    assert readiness["httpGet"] == {"path": READY_PATH, "port": readiness["httpGet"]["port"]}
    assert ports[readiness["httpGet"]["port"]] == served_port
    liveness = agent["livenessProbe"]
    assert liveness["httpGet"] == {"path": LIVE_PATH, "port": readiness["httpGet"]["port"]}
    assert "startupProbe" not in agent  # /readyz answers from the first second

    assert all("readinessProbe" in c for c in pod_spec(objects)["containers"])
    triton = container(objects, "tritonserver")
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"

    probes = _scenario_values(values).get("agent", {}).get("probes", {})
    defaults = {"periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 3}
    expected = {**defaults, **probes.get("readiness", {})}
    assert {k: v for k, v in readiness.items() if k != "httpGet"} == expected


def test_the_probe_paths_are_the_agents_routes(render: Render) -> None:
    """The paths the chart probes are answered by the agent's endpoint: ``/readyz`` 503 until
    the agent has confirmed its assigned version, then 200; ``/healthz`` 200."""
    agent = container(_triton(render, "default"), "serving-agent")
    gate = ReadinessGate()
    endpoint = AgentEndpoint(AgentMetrics(), gate)
    base = f"http://127.0.0.1:{endpoint.start(0, '127.0.0.1')}"
    try:
        ready_url = base + agent["readinessProbe"]["httpGet"]["path"]
        assert httpx.get(ready_url).status_code == 503
        gate.set(assess(desired(("m", 1)), [row("m", 1, "READY")], {}))
        assert httpx.get(ready_url).status_code == 200
        assert httpx.get(base + agent["livenessProbe"]["httpGet"]["path"]).status_code == 200
    finally:
        endpoint.stop()


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_service_exposes_triton_and_agent_ports(render: Render, chart: str, values: Path) -> None:
    """The Service is named after the release and publishes http, grpc, metrics and
    agent-metrics, each targeting a named container port of the pod."""
    objects = render(chart, values)
    service = one(objects, "Service")
    assert service["metadata"]["name"] == "svc"
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert set(ports) == {"http", "grpc", "metrics", "agent-metrics"}
    container_ports = {
        p["name"] for c in pod_spec(objects)["containers"] for p in c.get("ports", [])
    }
    assert {p["targetPort"] for p in ports.values()} <= container_ports
    assert service["spec"]["selector"].items() <= (
        one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_gpus_and_their_toleration_follow_gpu_count(
    render: Render, chart: str, values: Path
) -> None:
    """With gpu.count > 0 the tritonserver container requests and limits that many
    nvidia.com/gpu, the pod tolerates the GPU pool taint and selects GPU nodes; with 0 there is
    no GPU resource and no GPU toleration. The agent never gets a GPU."""
    objects = render(chart, values)
    count = _gpu_count(values)
    triton = container(objects, "tritonserver")
    agent = container(objects, "serving-agent")
    spec = pod_spec(objects)
    tolerations = spec.get("tolerations", [])
    assert "nvidia.com/gpu" not in agent["resources"].get("limits", {})
    if count:
        assert triton["resources"]["limits"]["nvidia.com/gpu"] == count
        assert triton["resources"]["requests"]["nvidia.com/gpu"] == count
        assert _tolerates(tolerations, GPU_TAINT), tolerations
        assert spec["nodeSelector"]["nvidia.com/gpu.present"] == "true"
    else:
        assert "nvidia.com/gpu" not in triton["resources"].get("limits", {})
        assert "nvidia.com/gpu" not in triton["resources"].get("requests", {})
        assert not _tolerates(tolerations, GPU_TAINT)
        assert "nvidia.com/gpu.present" not in spec.get("nodeSelector", {})


def test_gpu_scenario_has_the_default_toleration_and_one_gpu(render: Render) -> None:
    """The GPU scenario: exactly the default toleration nvidia.com/gpu=present:NoSchedule,
    nvidia.com/gpu limit 1, nvcr.io pull secret, registry service name from values."""
    objects = _triton(render, "gpu")
    spec = pod_spec(objects)
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "present",
        "effect": "NoSchedule",
    } in spec["tolerations"]
    assert container(objects, "tritonserver")["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "nvcr-io"} in spec["imagePullSecrets"]
    agent_env = env_of(container(objects, "serving-agent"))
    assert agent_env[f"{PREFIX}SERVICE"]["value"] == "fraud-scoring"
    assert spec["containers"][0]["image"].startswith(TRITON_IMAGE + "@sha256:")


def test_custom_gpu_pool_merges_tolerations_and_node_selectors(render: Render) -> None:
    """Four GPUs on a pool with its own taint and labels: GPU and user tolerations and node
    selectors are merged; no surge pod during rollouts."""
    objects = _triton(render, "multi-gpu-custom-pool")
    spec = pod_spec(objects)
    assert container(objects, "tritonserver")["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert _tolerates(spec["tolerations"], GPU_TAINT)
    assert _tolerates(
        spec["tolerations"], {"key": "dedicated", "value": "inference", "effect": "NoSchedule"}
    )
    assert spec["nodeSelector"] == {
        "nvidia.com/gpu.present": "true",
        "aliyun.accelerator/nvidia_name": "NVIDIA-A10",
        "kubeai.dev/pool": "inference-a10",
    }
    strategy = one(objects, "Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 0, "maxUnavailable": 1}


def test_default_autoscales_on_cpu(render: Render) -> None:
    """Default: an autoscaling/v2 HPA on CPU utilisation targets the Deployment, which then
    leaves its replica count to the HPA; a PodDisruptionBudget allows one pod down."""
    objects = _triton(render, "default")
    hpa = one(objects, "HorizontalPodAutoscaler")
    deployment = one(objects, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 80,
    }
    assert "replicas" not in deployment["spec"]
    for c in pod_spec(objects)["containers"]:
        assert c["resources"]["requests"]["cpu"], "CPU utilisation needs CPU requests"
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_hpa_off_sets_replicas(render: Render) -> None:
    """autoscaling.enabled=false: no HPA, the Deployment carries replicas; budget disabled."""
    objects = _triton(render, "hpa-off")
    assert not by_kind(objects, "HorizontalPodAutoscaler")
    assert not by_kind(objects, "PodDisruptionBudget")
    assert not by_kind(objects, "ServiceAccount")
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    assert pod_spec(objects)["serviceAccountName"] == "inference"
    assert "lifecycle" not in container(objects, "tritonserver")


def test_many_replicas(render: Render) -> None:
    """Sixteen fixed replicas with percentage budget and rollout, strict readiness, the agent's
    probe timing and passed through Triton flags."""
    objects = _triton(render, "many-replicas")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 16
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": 0,
    }
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "25%"
    args = container(objects, "tritonserver")["args"]
    assert "--strict-readiness=true" in args
    agent = container(objects, "serving-agent")
    assert agent["readinessProbe"]["periodSeconds"] == 1
    assert agent["livenessProbe"]["failureThreshold"] == 5
    assert "--backend-config=python,shm-default-byte-size=16777216" in args
    assert one(objects, "Service")["spec"]["type"] == "LoadBalancer"


def test_hpa_on_cpu_and_memory(render: Render) -> None:
    """Both utilisation targets become HPA metrics; artifact settings reach the agent."""
    objects = _triton(render, "object-stores")
    hpa = one(objects, "HorizontalPodAutoscaler")
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 85}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    env = env_of(container(objects, "serving-agent"))
    assert env[f"{PREFIX}ARTIFACTS__OSS__ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "oss-credentials",
        "key": "AccessKeyId",
    }
    assert env[f"{PREFIX}ARTIFACTS__LOCAL_ROOT"]["value"] == "/mnt/artifacts"
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["model-repository"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    triton_mounts = {m["name"] for m in container(objects, "tritonserver")["volumeMounts"]}
    assert not triton_mounts & {"artifacts", "gcs-key"}, "only the agent reads the artifact store"


def test_default_registry_url_points_at_the_glue_chart_service(helm_tools: HelmTools) -> None:
    """The registry URL in the scenarios is the Service the kubeai-glue chart renders for a
    release named kubeai-glue in kubeai-system, on its port."""
    glue = helm_tools.template(
        chart_path("kubeai-glue"),
        release="kubeai-glue",
        namespace="kubeai-system",
        values=[chart_path("kubeai-glue") / "ci" / "default-values.yaml"],
    )
    service = one(component(glue, "model-registry"), "Service")
    url = urlsplit(_scenario_values(CI / "default-values.yaml")["registry"]["url"])
    assert url.hostname == f"{service['metadata']['name']}.kubeai-system"
    assert url.port == service["spec"]["ports"][0]["port"]


def test_resources_are_named_after_the_release(render: Render) -> None:
    """One release is one inference service: every object is named after the release."""
    objects = _triton(render, "default", release="fraud-scoring")
    assert {o["metadata"]["name"] for o in objects} == {"fraud-scoring"}
    assert one(objects, "Deployment")["metadata"]["namespace"] == NAMESPACE


def test_no_scenario_grants_kubernetes_api_access(render: Render) -> None:
    """The serving agent needs no Kubernetes API permission: no RBAC objects, no token."""
    for values in scenarios(CHART):
        objects = render(CHART, values)
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
        assert pod_spec(objects)["automountServiceAccountToken"] is False


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_every_container_has_cpu_and_memory_limits_covering_its_requests(
    render: Render, chart: str, values: Path
) -> None:
    """Explicit CPU and memory limits >= requests on both containers: a namespace LimitRange
    would otherwise fill in its default limit, and LimitRanger refuses a pod whose request is
    above it (tests/cluster/test_refusals.py shows the refusal)."""
    for c in pod_spec(render(chart, values))["containers"]:
        requests, limits = c["resources"]["requests"], c["resources"]["limits"]
        for resource in ("cpu", "memory"):
            assert resource in limits, (c["name"], resource)
            assert parse_quantity(limits[resource]) >= parse_quantity(requests[resource]), c["name"]
