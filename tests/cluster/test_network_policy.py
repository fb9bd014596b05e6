"""NetworkPolicies on a real API server: admitted as rendered, and selecting the intended pods.

Rendered first (``infra.render.render_stack``, as in ``test_tenancy``): the platform stack
``prod-eks`` and the team stacks ``team-search-prod`` and ``team-cv-prod`` aimed at it, with
``kubeai:network`` set on the copies (the platform: an ingress namespace, a monitoring namespace,
an ingress CIDR and node CIDRs; team search: a serving client namespace). Applied: the rendered
Namespaces, the namespaces those keys name plus one nobody names (``elsewhere``), and every
rendered NetworkPolicy (the team stacks' from ``infra.network_policy``, the registry's from the
kubeai-glue chart). Then one pod per role, labelled as the rendered Deployments label their pods
(each inference service, the registry) or as an ordinary pod (a trainer, a cache worker, a
client in each other namespace).

What is checked is what the API server can prove: each policy is admitted and stored as
rendered, and each policy's ``podSelector`` and each peer's ``namespaceSelector``/``podSelector``,
evaluated by the API server itself (pods and namespaces listed with the selector as their
``labelSelector``), select the intended pods and no others; every named port of a rule is a
container port of every pod it selects. Enforcement (packets actually dropped) needs a CNI plugin
that implements NetworkPolicy; the harness runs none (KWOK nodes have no pod network), so it is
not tested here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.controlplane.harness import ControlPlane
from infra.network_policy import SERVING_POD_LABELS
from infra.validate import iter_documents
from tests.cluster.test_tenancy import PLATFORM, TEAM_STACKS, TEAMS, rendered, repointed_stacks
from tests.support.kubeapi import KubeApi, message

PLATFORM_NETWORK = {
    "ingressNamespaces": ["ingress-nginx"],
    "ingressCidrs": ["10.20.0.0/16"],
    "monitoringNamespace": "monitoring",
    "nodeCidrs": ["10.0.0.0/16"],
}
TEAM_NETWORK = {"team-search-prod": {"servingClientNamespaces": ["frontend"]}}
#: Namespaces outside the stacks: the ones ``kubeai:network`` names and one nobody names.
EXTRA_NAMESPACES = ("ingress-nginx", "monitoring", "frontend", "elsewhere")
#: Prefix of every pod this module creates (other tests' pods are ignored).
PREFIX = "netpol-"
REGISTRY_NAMESPACE = "kubeai-system"

Pod = tuple[str, str]  # (namespace, name)


def selector_string(selector: dict[str, Any]) -> str:
    """A ``LabelSelector`` object as the ``labelSelector`` query string (empty: everything)."""
    terms = [f"{key}={value}" for key, value in sorted(selector.get("matchLabels", {}).items())]
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(terms)


def configured_stacks(tmp: Path) -> Path:
    """``repointed_stacks`` with ``kubeai:network`` set on the platform and team search."""
    stacks = repointed_stacks(tmp)
    edits = {PLATFORM: PLATFORM_NETWORK, **TEAM_NETWORK}
    for stack, network in edits.items():
        path = stacks / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        document["config"]["kubeai:network"] = network
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return stacks


def pod_manifest(
    namespace: str, name: str, labels: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    """A pod admitted under Pod Security ``restricted`` (the strictest level of these
    namespaces), with ``labels`` and the container ``ports`` (names and numbers)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/netpol:1",
                    "ports": ports,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def template_pod(namespace: str, deployment: dict[str, Any]) -> dict[str, Any]:
    """A pod labelled like ``deployment``'s pods, with their container ports."""
    template = deployment["spec"]["template"]
    ports = [
        {"name": p["name"], "containerPort": p["containerPort"]}
        for c in template["spec"]["containers"]
        for p in c.get("ports", [])
    ]
    name = PREFIX + deployment["metadata"]["name"]
    return pod_manifest(namespace, name, dict(template["metadata"]["labels"]), ports)


def create_pod(client: httpx.Client, manifest: dict[str, Any], timeout: float = 60.0) -> None:
    """Create ``manifest``, retrying while the namespace's ``default`` ServiceAccount does not
    exist yet (the controller manager creates it just after the namespace)."""
    namespace = manifest["metadata"]["namespace"]
    deadline = time.monotonic() + timeout
    while True:
        response = client.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
        if response.is_success or response.status_code == 409:
            return
        waiting = response.status_code == 403 and "serviceaccount" in message(response).lower()
        if not waiting or time.monotonic() > deadline:
            raise AssertionError(
                f"pod {namespace}/{manifest['metadata']['name']}: {message(response)}"
            )
        time.sleep(0.5)


@dataclass
class Installed:
    """What the module put on the cluster: the policies as the API server stores them (by
    ``(namespace, name)``), the test pods with their labels, and the rendered policies."""

    policies: dict[Pod, dict[str, Any]]
    rendered: dict[Pod, dict[str, Any]]
    pods: dict[Pod, dict[str, Any]]
    serving: set[Pod]
    registry: set[Pod]
    controller: set[Pod]


@pytest.fixture(scope="module")
def installed(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    """Namespaces, the rendered NetworkPolicies and the test pods (deleted at the end)."""
    tmp = tmp_path_factory.mktemp("network-policy")
    stacks = configured_stacks(tmp / "stacks")
    docs: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = []
    for stack in (PLATFORM, *TEAM_STACKS):
        docs += rendered(stack, stacks, tmp / stack)
        deployments += [d for _, d in iter_documents(tmp / stack) if d["kind"] == "Deployment"]
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    namespaces += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in EXTRA_NAMESPACES
    ]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods: list[dict[str, Any]] = []
    serving: set[Pod] = set()
    registry: set[Pod] = set()
    controller: set[Pod] = set()
    for deployment in deployments:
        namespace = deployment["metadata"].get("namespace")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if namespace is None:  # upstream objects without one are not ours
            continue
        pod = template_pod(namespace, deployment)
        if SERVING_POD_LABELS.items() <= labels.items():
            serving.add((namespace, pod["metadata"]["name"]))
        elif labels.get("app.kubernetes.io/component") == "model-registry":
            registry.add((namespace, pod["metadata"]["name"]))
        elif labels.get("app.kubernetes.io/component") == CONTROLLER_COMPONENT:
            controller.add((namespace, pod["metadata"]["name"]))
        else:
            continue
        pods.append(pod)
    for namespace in [d["metadata"]["name"] for d in namespaces]:
        pods.append(pod_manifest(namespace, f"{PREFIX}plain", {"app": "plain"}, []))
    with control_plane.client(timeout=60.0) as client:
        kube = KubeApi(client)
        kube.apply_all(namespaces)
        kube.apply_all(policies)  # raises, naming each, if any is refused
        for pod in pods:
            create_pod(client, pod)
        stored = {}
        for policy in policies:
            response = client.get(kube.object_path(policy))
            response.raise_for_status()
            stored[key_of(policy)] = response.json()
        yield Installed(
            policies=stored,
            rendered={key_of(p): p for p in policies},
            pods={key_of(p): p for p in pods},
            serving=serving,
            registry=registry,
            controller=controller,
        )
        for pod in pods:
            client.delete(kube.object_path(pod), params={"gracePeriodSeconds": "0"})


#: The lifecycle controller's pods and NetworkPolicy in the kubeai-glue chart.
CONTROLLER_COMPONENT = "lifecycle-controller"
CONTROLLER_POLICY = "kubeai-controller"


def key_of(manifest: dict[str, Any]) -> Pod:
    return (manifest["metadata"]["namespace"], manifest["metadata"]["name"])


@pytest.fixture
def api(control_plane: ControlPlane, installed: Installed) -> Iterator[httpx.Client]:
    with control_plane.client() as client:
        yield client


def pods_selected(client: httpx.Client, namespaces: set[str], selector: dict[str, Any]) -> set[Pod]:
    """The test pods of ``namespaces`` that the API server selects with ``selector``."""
    out: set[Pod] = set()
    for namespace in namespaces:
        response = client.get(
            f"/api/v1/namespaces/{namespace}/pods",
            params={"labelSelector": selector_string(selector)},
        )
        response.raise_for_status()
        names = [p["metadata"]["name"] for p in response.json()["items"]]
        out |= {(namespace, n) for n in names if n.startswith(PREFIX)}
    return out


def namespaces_selected(client: httpx.Client, selector: dict[str, Any]) -> set[str]:
    """The namespaces the API server selects with ``selector``."""
    response = client.get("/api/v1/namespaces", params={"labelSelector": selector_string(selector)})
    response.raise_for_status()
    return {n["metadata"]["name"] for n in response.json()["items"]}


def selected(client: httpx.Client, policy: dict[str, Any]) -> set[Pod]:
    """The test pods ``policy`` applies to."""
    namespace = policy["metadata"]["namespace"]
    return pods_selected(client, {namespace}, policy["spec"]["podSelector"])


def admitted(client: httpx.Client, policy: dict[str, Any]) -> tuple[set[Pod], list[str]]:
    """The test pods and the CIDRs the ingress rules of ``policy`` admit (on some port)."""
    pods: set[Pod] = set()
    cidrs: list[str] = []
    for rule in policy["spec"].get("ingress", []):
        for peer in rule["from"]:
            if "ipBlock" in peer:
                cidrs.append(peer["ipBlock"]["cidr"])
                continue
            if "namespaceSelector" in peer:
                namespaces = namespaces_selected(client, peer["namespaceSelector"])
            else:
                namespaces = {policy["metadata"]["namespace"]}
            pods |= pods_selected(client, namespaces, peer.get("podSelector", {}))
    return pods, cidrs


def in_namespaces(installed: Installed, *namespaces: str) -> set[Pod]:
    """Every test pod of ``namespaces``."""
    return {pod for pod in installed.pods if pod[0] in namespaces}


def team_namespaces(stack: str) -> tuple[str, str]:
    """The team namespace and its cache namespace of team stack ``stack``."""
    config = TEAMS[stack]
    return config.team.name, config.cache_namespace


def test_every_policy_is_admitted_as_rendered(installed: Installed) -> None:
    # two teams with datasets, the registry, the lifecycle controller
    assert len(installed.policies) == 2 * 7 + 2
    for key, policy in installed.policies.items():
        assert policy["spec"] == installed.rendered[key]["spec"], key


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_team_default_deny_and_same_namespace(
    api: httpx.Client, installed: Installed, stack: str
) -> None:
    """In the team and cache namespaces the deny selects every pod; the same-namespace allow
    admits that namespace's pods only."""
    for namespace in team_namespaces(stack):
        everyone = in_namespaces(installed, namespace)
        assert len(everyone) >= 1
        deny = installed.policies[(namespace, "kubeai-default-deny-ingress")]
        assert selected(api, deny) == everyone
        assert admitted(api, deny) == (set(), [])
        same = installed.policies[(namespace, "kubeai-allow-same-namespace")]
        assert selected(api, same) == everyone
        assert admitted(api, same) == (everyone, [])


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_serving_policy_selects_the_inference_pods_and_admits_their_clients(
    api: httpx.Client, installed: Installed, stack: str
) -> None:
    team, _ = team_namespaces(stack)
    serving = {pod for pod in installed.serving if pod[0] == team}
    assert serving, f"team {team} renders inference services"
    policy = installed.policies[(team, "kubeai-allow-serving")]
    assert selected(api, policy) == serving  # not the team's other pods
    clients = [
        team,
        "ingress-nginx",
        *TEAM_NETWORK.get(stack, {}).get("servingClientNamespaces", []),
    ]
    pods, cidrs = admitted(api, policy)
    assert pods == in_namespaces(installed, *clients)
    assert cidrs == []
    monitoring = installed.policies[(team, "kubeai-allow-monitoring")]
    assert selected(api, monitoring) == serving
    assert admitted(api, monitoring) == (in_namespaces(installed, "monitoring"), [])


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_cache_namespace_admits_its_team_monitoring_and_the_nodes(
    api: httpx.Client, installed: Installed, stack: str
) -> None:
    """The cache admits its own team (not the other one), Prometheus and the nodes."""
    team, cache = team_namespaces(stack)
    policy = installed.policies[(cache, "kubeai-allow-cache-clients")]
    assert selected(api, policy) == in_namespaces(installed, cache)
    assert admitted(api, policy) == (
        in_namespaces(installed, team, "monitoring"),
        PLATFORM_NETWORK["nodeCidrs"],
    )


def test_registry_admits_the_platform_teams_ingress_and_monitoring_only(
    api: httpx.Client, installed: Installed
) -> None:
    """The registry's policy selects the registry pods only (not its namespace's other pods) and
    admits its namespace, the team namespaces (not their cache namespaces), the ingress and
    monitoring namespaces and the ingress CIDRs; not ``elsewhere`` nor a team's serving client."""
    (policy,) = [
        p
        for k, p in installed.policies.items()
        if k[0] == REGISTRY_NAMESPACE and k[1] != CONTROLLER_POLICY
    ]
    assert installed.registry
    assert selected(api, policy) == installed.registry
    teams = [team_namespaces(stack)[0] for stack in TEAM_STACKS]
    pods, cidrs = admitted(api, policy)
    assert pods == in_namespaces(
        installed, REGISTRY_NAMESPACE, *teams, "ingress-nginx", "monitoring"
    )
    assert cidrs == PLATFORM_NETWORK["ingressCidrs"]


def test_controller_admits_monitoring_only(api: httpx.Client, installed: Installed) -> None:
    """The lifecycle controller only calls out; its policy selects its pods alone and admits
    the monitoring namespace (Prometheus scraping its metrics port) and nothing else."""
    policy = installed.policies[(REGISTRY_NAMESPACE, CONTROLLER_POLICY)]
    assert installed.controller
    assert selected(api, policy) == installed.controller
    pods, cidrs = admitted(api, policy)
    assert pods == in_namespaces(installed, "monitoring") and cidrs == []


def test_named_ports_are_ports_of_the_selected_pods(
    api: httpx.Client, installed: Installed
) -> None:
    """A named port that a selected pod lacks would admit nothing on it."""
    for key, policy in installed.policies.items():
        names = {
            port["port"]
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        for pod in selected(api, policy):
            containers = installed.pods[pod]["spec"]["containers"]
            have = {p["name"] for c in containers for p in c.get("ports", [])}
            assert names <= have, (key, pod)
