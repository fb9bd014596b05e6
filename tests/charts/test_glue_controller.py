"""The kubeai-glue chart's lifecycle controller: its Deployment (settings, registry credential,
probes, spreading), its Kubernetes rights (exactly ``CONTROLLER_RULES``, the contract of issue
11), its network boundary and metrics, and its place in the registry's ``controllers``.

The controller's settings class (``glue.controller``'s ``ControllerSettings``) is written in
parallel; until it is importable the environment is checked against the contract's variable
names (``CONTROLLER_ENV``) and the artifact store's own settings class.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from glue.artifacts.settings import ArtifactSettings
from tests.charts.conftest import NAMESPACE, Render
from tests.charts.support import (
    Objects,
    by_kind,
    chart_path,
    component,
    env_of,
    literal_env,
    one,
    scenario_params,
    settings_env_names,
    settings_from_env,
)
from tests.support.helm import HelmTools
from tests.support.rbac import CONTROLLER_LEASE_RULE, CONTROLLER_RULES, rule_grants

CHART = "kubeai-glue"
CI = chart_path(CHART) / "ci"
CONTROLLER = "lifecycle-controller"
REGISTRY = "model-registry"
PREFIX = "KUBEAI_CONTROLLER_"
CONTROLLER_ENV = {
    f"{PREFIX}{name}"
    for name in (
        "REGISTRY_URL",
        "REGISTRY_TOKEN_FILE",
        "REGISTRY_CA_FILE",
        "TEAM_LABEL",
        "LEASE_NAME",
        "LEASE_NAMESPACE",
        "IDENTITY",
        "METRICS_PORT",
        "HEALTH_PORT",
        "LOG_LEVEL",
        "ARTIFACT_ROOT",
    )
} | settings_env_names(ArtifactSettings, f"{PREFIX}ARTIFACTS__")
"""Variables the controller reads: the brief's ``ControllerSettings`` contract, plus its log level
and the artifact root of its output convention."""
ENABLED = [p for p in scenario_params(CHART) if "oidc-only" not in p.id]
"""The scenarios that run the controller (oidc-only has no TokenReview, so no controller)."""


def _controller(render: Render, values: Path) -> Objects:
    return component(render(CHART, values), CONTROLLER)


def _pod(objects: Objects) -> dict[str, Any]:
    return dict(one(objects, "Deployment")["spec"]["template"]["spec"])


def _container(objects: Objects) -> dict[str, Any]:
    (container,) = _pod(objects)["containers"]
    assert container["name"] == "controller"
    return dict(container)


def _controller_settings_class() -> type[BaseModel] | None:
    """``ControllerSettings`` once ``glue.controller`` exists, else None."""
    for module in ("glue.controller.settings", "glue.controller"):
        try:
            found = getattr(importlib.import_module(module), "ControllerSettings", None)
        except ImportError:
            continue
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


@pytest.mark.parametrize(("chart", "values"), ENABLED)
def test_controller_env_is_the_settings_contract(
    render: Render, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chart: str, values: Path
) -> None:
    """The container runs ``python -m glue.controller``; every KUBEAI_CONTROLLER_* variable is
    one of the contract's; POD_NAME/POD_NAMESPACE come from the downward API (the Lease holder
    identity and namespace); the ports are the container's named ports; when the settings class
    exists, it validates with exactly this environment (the token file replaced by a local one)."""
    objects = _controller(render, values)
    container = _container(objects)
    assert container["command"] == ["python", "-m", "glue.controller"]
    env = env_of(container)
    ours = {name for name in env if name.startswith(PREFIX)}
    assert ours <= CONTROLLER_ENV, (
        f"variables the controller does not read: {ours - CONTROLLER_ENV}"
    )
    for name, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == field
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env[f"{PREFIX}METRICS_PORT"]["value"] == str(ports["metrics"])
    assert env[f"{PREFIX}HEALTH_PORT"]["value"] == str(ports["health"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    settings_class = _controller_settings_class()
    if settings_class is not None:
        plain = {k: v for k, v in literal_env(container).items() if k.startswith(PREFIX)}
        token = tmp_path / "token"
        token.write_text("a-projected-token")
        plain[f"{PREFIX}REGISTRY_TOKEN_FILE"] = str(token)
        monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
        monkeypatch.setenv("POD_NAME", "svc-kubeai-glue-controller-7d9f8c6b5-x2x4z")
        settings_from_env(settings_class, PREFIX, plain, monkeypatch)


@pytest.mark.parametrize(("chart", "values"), ENABLED)
def test_controller_reaches_the_charts_registry_with_a_projected_token(
    render: Render, chart: str, values: Path
) -> None:
    """REGISTRY_URL is the chart's registry Service on its port; the token file is a projected
    ServiceAccount token for the registry's first audience, mounted read-only; the artifact store
    settings are the registry's (same variables after the prefix, same mounts)."""
    everything = render(chart, values)
    objects = component(everything, CONTROLLER)
    registry = component(everything, REGISTRY)
    env = literal_env(_container(objects))
    service = one(registry, "Service")
    port = service["spec"]["ports"][0]["port"]
    assert env[f"{PREFIX}REGISTRY_URL"] == (
        f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port}"
    )
    registry_env = literal_env(_container_named(registry, "registry"))
    audiences = json.loads(registry_env["KUBEAI_REGISTRY_AUTH__KUBERNETES__AUDIENCES"])
    volumes = {v["name"]: v for v in _pod(objects)["volumes"]}
    (source,) = volumes["registry-token"]["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == audiences[0]
    mounts = {m["name"]: m for m in _container(objects)["volumeMounts"]}
    assert mounts["registry-token"]["readOnly"] is True
    token_file = f"{mounts['registry-token']['mountPath']}/{source['serviceAccountToken']['path']}"
    assert env[f"{PREFIX}REGISTRY_TOKEN_FILE"] == token_file
    artifacts = {
        k.removeprefix(f"{PREFIX}ARTIFACTS__"): v for k, v in env.items() if "ARTIFACTS__" in k
    }
    assert artifacts == {
        k.removeprefix("KUBEAI_REGISTRY_ARTIFACTS__"): v
        for k, v in registry_env.items()
        if "ARTIFACTS__" in k
    }
    registry_mounts = {m["name"] for m in _container_named(registry, "registry")["volumeMounts"]}
    artifact_mounts = {"artifacts", "gcs-key"} & registry_mounts
    assert artifact_mounts <= set(mounts)


def _container_named(objects: Objects, name: str) -> dict[str, Any]:
    containers = {c["name"]: c for c in _pod(objects)["containers"]}
    return dict(containers[name])


@pytest.mark.parametrize(("chart", "values"), ENABLED)
def test_controller_rights_are_exactly_the_contract(
    render: Render, chart: str, values: Path
) -> None:
    """One ClusterRole with exactly the contract's cluster-wide rules, bound to the pods'
    ServiceAccount of the release namespace; one Role in the release namespace for the Lease
    (create, and get/update of the Lease the pods are told to use); nothing else, and no
    wildcard anywhere."""
    objects = _controller(render, values)
    account = _pod(objects)["serviceAccountName"]
    assert _pod(objects)["automountServiceAccountToken"] is True, "the controller calls the API"
    (cluster_role,) = by_kind(objects, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group, resource, verb in rule_grants(rule)
    }
    assert granted == CONTROLLER_RULES
    assert "*" not in json.dumps([cluster_role["rules"]])
    (role,) = by_kind(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    lease = literal_env(_container(objects))[f"{PREFIX}LEASE_NAME"]
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {**CONTROLLER_LEASE_RULE, "resourceNames": [lease]},
    ]
    subject = {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    for kind, ref_kind, ref in (
        ("ClusterRoleBinding", "ClusterRole", cluster_role),
        ("RoleBinding", "Role", role),
    ):
        (binding,) = by_kind(objects, kind)
        assert binding["subjects"] == [subject]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": ref_kind,
            "name": ref["metadata"]["name"],
        }
    assert NAMESPACE in cluster_role["metadata"]["name"], "one ClusterRole per release namespace"


@pytest.mark.parametrize(("chart", "values"), ENABLED)
def test_controller_is_a_registry_controller(render: Render, chart: str, values: Path) -> None:
    """The registry's ``controllers`` setting names the controller's ServiceAccount
    (``namespace/name``), after any account listed in ``registry.auth.controllers``."""
    everything = render(chart, values)
    account = _pod(component(everything, CONTROLLER))["serviceAccountName"]
    env = literal_env(_container_named(component(everything, REGISTRY), "registry"))
    controllers = json.loads(env["KUBEAI_REGISTRY_AUTH__CONTROLLERS"])
    assert controllers[-1] == f"{NAMESPACE}/{account}"
    assert len(controllers) == len(set(controllers))


def test_default_controller(render: Render) -> None:
    """Default: two replicas spread over nodes (preferred anti-affinity on the hostname), a
    disruption budget, its own ServiceAccount, the platform team label, a Lease named like the
    controller, a headless metrics Service, a NetworkPolicy admitting nothing (no metrics
    namespace given) and no ServiceMonitor."""
    objects = _controller(render, CI / "default-values.yaml")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    (term,) = _pod(objects)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = deployment["spec"]["selector"]
    assert term["podAffinityTerm"]["labelSelector"] == selector
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": selector}
    account = one(objects, "ServiceAccount")
    assert account["metadata"]["name"] == _pod(objects)["serviceAccountName"]
    env = literal_env(_container(objects))
    assert env[f"{PREFIX}TEAM_LABEL"] == "kubeai.dev/team"
    assert env[f"{PREFIX}LEASE_NAME"] == deployment["metadata"]["name"]
    service = one(objects, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9102, "targetPort": "metrics", "protocol": "TCP"}
    ]
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["podSelector"] == selector
    assert policy["policyTypes"] == ["Ingress"] and "ingress" not in policy
    assert not by_kind(objects, "ServiceMonitor")


def test_production_controller(render: Render) -> None:
    """The ``controller`` scenario: three replicas one per node, an existing ServiceAccount
    (none created, but bound and listed in the registry), the named Lease, metrics admitted from
    the monitoring namespace only and scraped by a ServiceMonitor; the registry, closed to its
    own namespace, still admits the controller's pods."""
    everything = render(CHART, CI / "controller-values.yaml")
    objects = component(everything, CONTROLLER)
    pod = _pod(objects)
    assert one(objects, "Deployment")["spec"]["replicas"] == 3
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert not by_kind(objects, "ServiceAccount")
    assert pod["serviceAccountName"] == "kubeai-lifecycle"
    env = literal_env(_container(objects))
    assert env[f"{PREFIX}TEAM_LABEL"] == "platform.example.com/team"
    assert env[f"{PREFIX}LEASE_NAME"] == "glue-lifecycle"
    assert env[f"{PREFIX}LOG_LEVEL"] == "DEBUG"
    assert env[f"{PREFIX}ARTIFACT_ROOT"] == "gs://acme-ml-artifacts"
    assert env["TZ"] == "UTC"
    (rule,) = one(objects, "NetworkPolicy")["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"] == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": ["monitoring"],
                    }
                ]
            }
        }
    ]
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"]
        == (one(objects, "Deployment")["spec"]["selector"]["matchLabels"])
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (registry_rule,) = one(component(everything, REGISTRY), "NetworkPolicy")["spec"]["ingress"]
    assert {"podSelector": {"matchLabels": pod_selector(objects)}} in registry_rule["from"]
    assert {"podSelector": {}} not in registry_rule["from"]
    controllers = literal_env(_container_named(component(everything, REGISTRY), "registry"))[
        "KUBEAI_REGISTRY_AUTH__CONTROLLERS"
    ]
    assert json.loads(controllers) == [
        "ml-platform/legacy-controller",
        f"{NAMESPACE}/kubeai-lifecycle",
    ]


def pod_selector(objects: Objects) -> dict[str, str]:
    """The controller Deployment's pod selector labels."""
    return dict(one(objects, "Deployment")["spec"]["selector"]["matchLabels"])


def test_controller_disabled(helm_tools: HelmTools) -> None:
    """``controller.enabled: false`` renders no controller object and leaves the registry's
    controllers as listed; the registry's RBAC is unchanged."""
    objects = helm_tools.template(
        chart_path(CHART),
        namespace=NAMESPACE,
        values=[CI / "default-values.yaml"],
        set_values=["controller.enabled=false"],
    )
    assert not component(objects, CONTROLLER)
    assert {o["kind"] for o in objects} & {"Role", "ClusterRole", "RoleBinding"} == set()
    registry = _container_named(component(objects, REGISTRY), "registry")
    assert literal_env(registry)["KUBEAI_REGISTRY_AUTH__CONTROLLERS"] == "[]"


@pytest.mark.parametrize("replicas", [1, 2])
def test_disruption_budget_only_for_several_replicas(helm_tools: HelmTools, replicas: int) -> None:
    """A single controller replica gets no PodDisruptionBudget (it would block node drains)."""
    objects = helm_tools.template(
        chart_path(CHART),
        values=[CI / "default-values.yaml"],
        set_values=[f"controller.replicas={replicas}"],
    )
    budgets = by_kind(component(objects, CONTROLLER), "PodDisruptionBudget")
    assert len(budgets) == (replicas > 1)
