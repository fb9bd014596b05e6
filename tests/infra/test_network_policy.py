"""infra/network_policy.py: the team's NetworkPolicies (default-deny ingress, explicit allows).

Checked here: the manifests (peers, ports, selectors), their validity against the Kubernetes 1.34
schema (kubernetes-validate, strict), that the selectors and named ports are the ones
charts/triton-inference renders (real helm), and how the team stack declares them. Which pods
they select on a real API server: tests/cluster/test_network_policy.py. Enforcement needs a CNI,
which no test here has.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from infra.config import NetworkOutput, TeamConfig
from infra.mocks import record_stack, reveal
from infra.network_policy import (
    CACHE_CLIENTS,
    DEFAULT_DENY,
    METRICS_PORTS,
    MONITORING,
    NAMESPACE_NAME_LABEL,
    SAME_NAMESPACE,
    SERVING,
    SERVING_POD_LABELS,
    SERVING_PORTS,
    namespaces_peer,
    policy,
    team_policies,
)
from tests.charts.support import chart_path
from tests.infra import factories
from tests.support.helm import KUBE_VERSION, HelmTools

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NETWORK = NetworkOutput(
    ingress_namespaces=["ingress-nginx"],
    monitoring_namespace="prometheus",
    node_cidrs=["10.0.0.0/16", "10.1.0.0/16"],
)


def by_name(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in manifests}


def names_in(peer: dict[str, Any]) -> list[str]:
    (expression,) = peer["namespaceSelector"]["matchExpressions"]
    assert expression["key"] == NAMESPACE_NAME_LABEL and expression["operator"] == "In"
    return expression["values"]


def team(**network: Any) -> TeamConfig:
    return factories.team_config(network=network) if network else factories.team_config()


def test_every_policy_validates_and_no_rule_admits_everyone() -> None:
    config = team(servingClientNamespaces=["frontend"], servingClientCidrs=["192.168.0.0/24"])
    manifests = team_policies(config, NETWORK)
    assert len(manifests) == 7
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        assert manifest["spec"]["policyTypes"] == ["Ingress"]  # egress stays open
        for rule in manifest["spec"].get("ingress", []):
            assert rule["from"], manifest["metadata"]["name"]


def test_team_namespace_default_deny_and_same_namespace() -> None:
    policies = by_name(team_policies(team(), NETWORK))
    deny = policies[("cv", DEFAULT_DENY)]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    same = policies[("cv", SAME_NAMESPACE)]["spec"]
    assert same["podSelector"] == {}
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_serving_clients_reach_only_the_triton_ports() -> None:
    config = team(
        servingClientNamespaces=["frontend", "ingress-nginx"],
        servingClientCidrs=["192.168.0.0/24"],
    )
    spec = by_name(team_policies(config, NETWORK))[("cv", SERVING)]["spec"]
    assert spec["podSelector"] == {"matchLabels": SERVING_POD_LABELS}
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": p, "protocol": "TCP"} for p in SERVING_PORTS]
    namespaces, cidr = rule["from"]
    assert names_in(namespaces) == ["cv", "frontend", "ingress-nginx"]  # sorted, deduplicated
    assert cidr == {"ipBlock": {"cidr": "192.168.0.0/24"}}


def test_serving_default_clients_are_the_team_and_the_platform_ingress() -> None:
    spec = by_name(team_policies(team(), NETWORK))[("cv", SERVING)]["spec"]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert names_in(peer) == ["cv", "ingress-nginx"]
    # without a platform ingress namespace: the team alone (never an empty ``In``)
    (rule,) = by_name(team_policies(team(), NetworkOutput()))[("cv", SERVING)]["spec"]["ingress"]
    assert names_in(rule["from"][0]) == ["cv"]


def test_prometheus_scrapes_triton_and_agent_metrics_only() -> None:
    spec = by_name(team_policies(team(), NETWORK))[("cv", MONITORING)]["spec"]
    assert spec["podSelector"] == {"matchLabels": SERVING_POD_LABELS}
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert names_in(peer) == ["prometheus"]
    assert rule["ports"] == [{"port": p, "protocol": "TCP"} for p in METRICS_PORTS]


def test_cache_namespace_admits_its_pods_its_team_monitoring_and_the_nodes() -> None:
    policies = by_name(team_policies(team(), NETWORK))
    cache = "kubeai-cache-cv"
    assert policies[(cache, DEFAULT_DENY)]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
    }
    assert policies[(cache, SAME_NAMESPACE)]["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    monitoring, nodes = policies[(cache, CACHE_CLIENTS)]["spec"]["ingress"]
    assert names_in(monitoring["from"][0]) == ["cv", "prometheus"] and "ports" not in monitoring
    assert nodes == {
        "from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}, {"ipBlock": {"cidr": "10.1.0.0/16"}}]
    }
    # without node CIDRs no node rule at all (not a rule without peers)
    (only,) = by_name(team_policies(team(), NetworkOutput()))[(cache, CACHE_CLIENTS)]["spec"][
        "ingress"
    ]
    assert names_in(only["from"][0]) == ["cv", "monitoring"]


def test_no_datasets_no_cache_namespace_policies() -> None:
    config = factories.team_config(datasets=[])
    assert {ns for ns, _ in by_name(team_policies(config, NETWORK))} == {"cv"}


def test_which_policies_exist_does_not_depend_on_the_platform() -> None:
    """The team stack declares them before the platform outputs are known."""
    config = team()
    keys = [list(by_name(team_policies(config, n))) for n in (NETWORK, NetworkOutput())]
    assert keys[0] == keys[1]


def test_builders_refuse_rules_that_would_admit_everyone() -> None:
    with pytest.raises(ValueError, match="at least one namespace"):
        namespaces_peer([])
    with pytest.raises(ValueError, match="admit every source"):
        policy("p", "cv", {}, [{"from": []}])


def test_selectors_and_ports_are_the_triton_charts(helm_tools: HelmTools) -> None:
    """The serving pods' labels and named ports are what charts/triton-inference renders."""
    chart = chart_path("triton-inference")
    objects = helm_tools.template(chart, values=[chart / "ci" / "default-values.yaml"])
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    assert SERVING_POD_LABELS.items() <= template["metadata"]["labels"].items()
    ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    assert {*SERVING_PORTS, *METRICS_PORTS} <= ports


def test_team_stack_declares_them_after_its_namespaces() -> None:
    platform = factories.platform_config(
        "eks", network={"ingressNamespaces": ["ingress-nginx"], "monitoringNamespace": "prometheus"}
    )
    outputs = factories.outputs_of(platform)
    config = factories.team_config()
    run = record_stack(config, platform=outputs)
    declared = {
        (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r
        for r in run.of_type(POLICY)
    }
    expected = by_name(team_policies(config, outputs.network))
    assert set(declared) == set(expected)
    for key, resource in declared.items():
        assert reveal(resource.inputs) == expected[key]
        assert run.ancestors(resource.key)[0] == ("kubeai:tenancy:TeamTenancy", "team")
        namespace = "team-namespace" if key[0] == "cv" else "team-cache-namespace"
        assert run.waits_for(resource.key, [("kubernetes:core/v1:Namespace", namespace)])
