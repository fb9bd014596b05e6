"""Network isolation keys (``kubeai:network``) of platform and team stacks.

The platform stack (``PlatformNetwork``) says where the cluster's shared clients live: the
namespaces of its ingress controllers or gateways, addresses outside the pod network that may
reach the model registry, the namespace of Prometheus, and the nodes' addresses (host-network
pods such as Fluid's FUSE and CSI pods appear with them). It exports the same keys to its team
stacks (``NetworkOutput`` in ``PlatformOutputs.network``). The team stack (``TeamNetwork``) adds
the namespaces and addresses that call its own inference services.

What the keys become: ``infra.network_policy`` (the team's NetworkPolicies) and the
``networkPolicy`` values of ``charts/kubeai-glue`` (``infra.addons.model_registry``). A
NetworkPolicy only takes effect with a CNI plugin that enforces it (Calico, Cilium, the cloud
providers' network policy options); the objects are valid and harmless without one.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from infra.config.shared import Name, Strict


def check_cidr(value: str) -> str:
    """Validator: ``value`` as an IPv4 or IPv6 network in CIDR notation without host bits
    (``10.0.0.0/8``, ``fd00::/8``), returned normalised; ``ValueError`` otherwise (Kubernetes'
    ``ipBlock.cidr`` refuses the same values)."""
    if "/" not in value:
        raise ValueError(f"{value!r} is not in CIDR notation (address/prefix length)")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"{value!r} is not a network in CIDR notation: {error}") from None


#: Shortest prefix length admitted per IP version: the widest private blocks, ``10.0.0.0/8`` and
#: the IPv6 unique local ``fc00::/7``. A wider network admits much of the internet.
MIN_PREFIX = {4: 8, 6: 7}


def narrow(admitted: str, give: str) -> AfterValidator:
    """Validator (after ``check_cidr``) refusing a network wider than ``MIN_PREFIX`` allows:
    ``admitted`` names what it would open (``the registry``), ``give`` what to list instead.
    ``ValueError`` with that advice."""

    def check(value: str) -> str:
        network = ipaddress.ip_network(value)
        shortest = MIN_PREFIX[network.version]
        if network.prefixlen >= shortest:
            return value
        reach = (
            "admits every address: {} would accept any network"
            if network.prefixlen == 0
            else f"is wider than /{shortest} (the widest private block): {{}} would accept much "
            "of the internet"
        )
        raise ValueError(f"{value!r} {reach.format(admitted)}; list the networks of {give}")

    return AfterValidator(check)


#: An IP network in CIDR notation (``check_cidr``).
Cidr = Annotated[str, AfterValidator(check_cidr)]


class PlatformNetwork(Strict):
    """``kubeai:network`` of a platform stack.

    ``ingressNamespaces``: namespaces (by name) of the cluster's ingress controllers or gateways;
    their pods may call the model registry and every team's inference services (HTTP, gRPC).
    ``ingressCidrs``: networks outside the pod network admitted to the registry (the sources of a
    LoadBalancer or NodePort Service, a VPN). ``monitoringNamespace``: the namespace of
    Prometheus, admitted to the metrics ports (registry ``/metrics``, Triton's metrics, the serving
    agent's ``/metrics``, Fluid's cache pods); a namespace that does not exist admits nobody.
    ``nodeCidrs``: the nodes' addresses (and, with an overlay CNI, its tunnel addresses), admitted
    to the pods of the teams' Fluid cache namespaces, where Fluid's host-network FUSE pods reach
    cache workers that run on the pod network (JuiceFS); empty admits none. No network may be
    wider than ``MIN_PREFIX`` (``0.0.0.0/0`` would admit everyone).
    """

    ingress_namespaces: list[Name] = Field(default_factory=list, max_length=20)
    ingress_cidrs: list[
        Annotated[Cidr, narrow("the registry", "your ingress controllers' sources or VPN")]
    ] = Field(default_factory=list, max_length=50)
    monitoring_namespace: Name = "monitoring"
    node_cidrs: list[
        Annotated[Cidr, narrow("the teams' Fluid cache pods", "the cluster's nodes")]
    ] = Field(default_factory=list, max_length=50)


class NetworkOutput(PlatformNetwork):
    """``PlatformNetwork`` as team stacks read it from the platform outputs: unknown keys (from a
    newer platform stack) are ignored; a platform stack exported before it existed gives the
    defaults."""

    model_config = ConfigDict(extra="ignore")


class TeamNetwork(Strict):
    """``kubeai:network`` of a team stack.

    ``servingClientNamespaces``: namespaces (by name) whose pods may call the team's inference
    services (Triton HTTP and gRPC), besides the team's own namespace and the platform's
    ``network.ingressNamespaces``. ``servingClientCidrs``: networks outside the pod network
    admitted to the same ports (e.g. the sources of a LoadBalancer in front of a service), each
    at most as wide as ``MIN_PREFIX`` allows.
    """

    serving_client_namespaces: list[Name] = Field(default_factory=list, max_length=50)
    serving_client_cidrs: list[
        Annotated[Cidr, narrow("the team's inference services", "their clients")]
    ] = Field(default_factory=list, max_length=50)
