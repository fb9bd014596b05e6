"""Tenant network isolation: the NetworkPolicies of a team's namespaces (ingress only).

A team stack (``infra.tenancy.TeamTenancy``) creates, in the team namespace:

* ``kubeai-default-deny-ingress``: selects every pod and admits nothing, so any traffic not
  admitted below is refused;
* ``kubeai-allow-same-namespace``: every pod admits the team's own pods (training gangs talk to
  their master, pipeline steps to each other, team pods call their inference services);
* ``kubeai-allow-serving``: the inference service pods (labels ``SERVING_POD_LABELS`` of
  ``charts/triton-inference``) admit, on Triton's HTTP and gRPC ports, pods of the team
  namespace, of the platform's ``kubeai:network.ingressNamespaces`` and of the team's
  ``kubeai:network.servingClientNamespaces``, and the team's ``servingClientCidrs``;
* ``kubeai-allow-monitoring``: the same pods admit the platform's
  ``kubeai:network.monitoringNamespace`` (Prometheus) on Triton's metrics port and the serving
  agent's ``/metrics`` port.

With datasets, in the team's Fluid cache namespace (``kubeai-cache-<team>``):

* ``kubeai-default-deny-ingress`` and ``kubeai-allow-same-namespace`` as above (cache workers
  talk to their master and to each other inside the namespace);
* ``kubeai-allow-cache-clients``: every pod admits, on any port, the team namespace (its own
  cache, e.g. the pods of the DataLoads the team runs), the monitoring namespace (each Fluid
  runtime names its metrics ports its own way) and the platform's ``kubeai:network.nodeCidrs``.
  Fluid's FUSE and CSI pods run on the host network, so the cache workers they read from see
  node addresses; the Alluxio and Jindo runtimes run their master and workers on the host network
  too, where no NetworkPolicy applies. No other team reaches the cache.

Ports are named (``http``, ``grpc``, ``metrics``, ``agent-metrics``: the container port names of
the chart), so a port number changed in the chart is followed. Namespaces are selected by name
through ``kubernetes.io/metadata.name``, which the API server sets on every Namespace.

What is not restricted, and why: egress stays open. Team pods reach object stores (S3, OSS, GCS)
at addresses a NetworkPolicy cannot name (no DNS names in the API), the API server, DNS and the
model registry; a default-deny egress would need per-cloud address lists or CNI-specific FQDN
policies. The boundaries that matter are enforced on the receiving side: another team's pods and
the registry admit only what their own ingress policies allow (the registry's policy is in
``charts/kubeai-glue``, values from ``infra.addons.model_registry``). Probes are not affected:
traffic from a pod's own node is always admitted.

A NetworkPolicy is enforced only by a CNI plugin that implements it (Calico, Cilium, the cloud
providers' network policy options); without one the objects are admitted and have no effect. The
cluster tests (``tests/cluster/test_network_policy.py``) therefore prove admission and which pods
each policy selects, not enforcement: the control plane harness runs no CNI.

The manifest builders are pure (``team_policies``); ``create_team_policies`` declares them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import NetworkOutput, PlatformOutputs, TeamConfig

API_VERSION = "networking.k8s.io/v1"
#: Label the API server sets on every Namespace (its name); namespaces are selected by it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: Labels of every inference service pod (``triton-inference.labels`` in
#: charts/triton-inference/templates/_helpers.tpl).
SERVING_POD_LABELS = {
    "app.kubernetes.io/component": "inference-service",
    "app.kubernetes.io/part-of": "kubeai",
}
#: Container port names of the tritonserver container that serve inference requests.
SERVING_PORTS = ("http", "grpc")
#: Container port names of Triton's metrics and the serving agent's ``/metrics``.
METRICS_PORTS = ("metrics", "agent-metrics")
#: Labels of every policy object.
POLICY_LABELS = {"app.kubernetes.io/part-of": "kubeai"}

DEFAULT_DENY = "kubeai-default-deny-ingress"
SAME_NAMESPACE = "kubeai-allow-same-namespace"
SERVING = "kubeai-allow-serving"
MONITORING = "kubeai-allow-monitoring"
CACHE_CLIENTS = "kubeai-allow-cache-clients"


def namespaces_peer(names: Iterable[str]) -> dict[str, Any]:
    """A ``from`` peer selecting every pod of the namespaces ``names`` (sorted, deduplicated).

    Raises ``ValueError`` for no names: ``In`` needs values, and a rule without peers would admit
    everyone."""
    values = sorted(set(names))
    if not values:
        raise ValueError("a namespace peer needs at least one namespace name")
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": values}]
        }
    }


def cidr_peers(cidrs: Iterable[str]) -> list[dict[str, Any]]:
    """``from`` peers of the networks ``cidrs`` (``ipBlock``, one each, sorted)."""
    return [{"ipBlock": {"cidr": cidr}} for cidr in sorted(set(cidrs))]


def tcp_ports(names: Sequence[str]) -> list[dict[str, Any]]:
    """``ports`` of a rule: the named container ports ``names`` over TCP."""
    return [{"port": name, "protocol": "TCP"} for name in names]


def policy(
    name: str,
    namespace: str,
    pod_selector: dict[str, Any],
    rules: list[dict[str, Any]],
) -> dict[str, Any]:
    """An ingress NetworkPolicy manifest; ``rules`` empty admits nothing (a default deny).

    Raises ``ValueError`` for a rule without peers (it would admit every source)."""
    for rule in rules:
        if not rule.get("from"):
            raise ValueError(f"policy {name}: a rule without peers would admit every source")
    spec: dict[str, Any] = {"podSelector": pod_selector, "policyTypes": ["Ingress"]}
    if rules:
        spec["ingress"] = rules
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(POLICY_LABELS)},
        "spec": spec,
    }


def isolation_policies(namespace: str) -> list[dict[str, Any]]:
    """The default deny and the same-namespace allow of ``namespace``."""
    return [
        policy(DEFAULT_DENY, namespace, {}, []),
        policy(SAME_NAMESPACE, namespace, {}, [{"from": [{"podSelector": {}}]}]),
    ]


def team_namespace_policies(config: TeamConfig, network: NetworkOutput) -> list[dict[str, Any]]:
    """The policies of the team namespace (module docstring), for the platform's ``network``."""
    team = config.team.name
    serving_pods = {"matchLabels": dict(SERVING_POD_LABELS)}
    clients = [team, *network.ingress_namespaces, *config.network.serving_client_namespaces]
    serving_from = [namespaces_peer(clients), *cidr_peers(config.network.serving_client_cidrs)]
    return [
        *isolation_policies(team),
        policy(
            SERVING,
            team,
            serving_pods,
            [{"from": serving_from, "ports": tcp_ports(SERVING_PORTS)}],
        ),
        policy(
            MONITORING,
            team,
            serving_pods,
            [
                {
                    "from": [namespaces_peer([network.monitoring_namespace])],
                    "ports": tcp_ports(METRICS_PORTS),
                }
            ],
        ),
    ]


def cache_namespace_policies(config: TeamConfig, network: NetworkOutput) -> list[dict[str, Any]]:
    """The policies of the team's Fluid cache namespace (module docstring); none without
    datasets (the namespace exists only with datasets)."""
    if not config.datasets:
        return []
    cache = config.cache_namespace
    clients = [config.team.name, network.monitoring_namespace]
    rules: list[dict[str, Any]] = [{"from": [namespaces_peer(clients)]}]
    if network.node_cidrs:
        rules.append({"from": cidr_peers(network.node_cidrs)})
    return [*isolation_policies(cache), policy(CACHE_CLIENTS, cache, {}, rules)]


def team_policies(config: TeamConfig, network: NetworkOutput) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the team stack: the team namespace's, then the cache namespace's.

    Which policies exist (names, namespaces, order) depends on ``config`` alone; ``network``
    only fills in their peers."""
    return [
        *team_namespace_policies(config, network),
        *cache_namespace_policies(config, network),
    ]


def _spec(platform: PlatformOutputs, *, config: TeamConfig, index: int) -> dict[str, Any]:
    """``spec`` of the ``index``-th of ``team_policies`` for ``platform``'s network."""
    return team_policies(config, platform.network)[index]["spec"]


def create_team_policies(
    name: str,
    config: TeamConfig,
    platform: pulumi.Output[PlatformOutputs],
    *,
    namespaces: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> dict[tuple[str, str], k8s.networking.v1.NetworkPolicy]:
    """Declare ``team_policies`` as children of ``parent``, each after ``namespaces`` (the team's
    Namespace resources); returns them by ``(namespace, policy name)``.

    The policies' peers come from the checked platform outputs; which policies exist is known
    from ``config`` before them (no resource is declared inside an ``apply``)."""
    out: dict[tuple[str, str], k8s.networking.v1.NetworkPolicy] = {}
    opts = pulumi.ResourceOptions(parent=parent, depends_on=list(namespaces))
    kinds = {config.team.name: "team", config.cache_namespace: "cache"}
    for index, manifest in enumerate(team_policies(config, NetworkOutput())):
        metadata = manifest["metadata"]
        spec = platform.apply(functools.partial(_spec, config=config, index=index))
        short = metadata["name"].removeprefix("kubeai-")
        out[(metadata["namespace"], metadata["name"])] = k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-{kinds[metadata['namespace']]}-{short}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata["name"],
                namespace=metadata["namespace"],
                labels=metadata["labels"],
            ),
            spec=spec,
            opts=opts,
        )
    return out
