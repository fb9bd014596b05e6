"""CEL over a pod template's resources, as Kubernetes itself accounts and validates them.

Each function takes the CEL name of a *replica map* (``infra.policies.training``'s ``types``
entries): ``{path, containers, initContainers, resources, ...}`` where ``resources`` is the pod's
pod-level ``spec.resources`` (``{}`` when unset) and the two container lists are ``[]`` when unset.

**Effective pod request** (``pod_request``), Kubernetes' rule as the scheduler and the quota apply
it (k8s.io/component-helpers v0.35.4 ``resource/helpers.go``: ``PodRequests`` and
``AggregateContainerRequests``; KEP-753 sidecars, KEP-2837 pod-level resources)::

    running  = sum(containers) + sum(sidecars)     # sidecar: init container, restartPolicy Always
    init     = max over the other init containers i of (request(i) + sum(sidecars before i))
    pod      = max(running, init)
    pod      = spec.resources.requests[r]           if the pod-level requests name r
             = spec.resources.limits[r]             if only pod-level limits name r and no
                                                    container asks for r (defaulting,
                                                    k8s.io/kubernetes pkg/apis/core/v1/defaults.go
                                                    ``defaultPodRequests``)

Pod-level resources exist for ``cpu``, ``memory`` and ``hugepages-*`` only. A container's request
of ``r`` is ``requests[r]``, else ``limits[r]`` (``SetDefaults_Pod``), else 0. Pod overhead comes
from a RuntimeClass at pod creation, not from a template, and is not counted.

**Consistency** (``request_errors``): what the apiserver refuses when the job's controller
creates the pod (the job itself is stored, so it would sit there forever): a request above its
limit for ``cpu``, ``memory``, ``ephemeral-storage``; for every other resource (extended ones such
as ``nvidia.com/gpu``, hugepages) a request without a limit or different from it; pod-level
resources other than ``cpu``, ``memory``, ``hugepages-*``.

**Accelerators** (``unoffered_errors``): resources of the GPU vendors' device-plugin domains
(``ACCELERATOR_DOMAINS``) other than the ones offered. The platform's node pools offer whole
NVIDIA GPUs (``nvidia.com/gpu``) and nothing else: MIG slices (``nvidia.com/mig-7g.80gb``) and
other vendors' devices are never advertised by any node of theirs, and the team's ResourceQuota
counts only ``requests.nvidia.com/gpu``, so such a pod would never schedule and would escape the
GPU quota. Refusing them (rather than counting them as GPUs) says exactly that.
"""

from __future__ import annotations

#: Device-plugin resource domains of GPU vendors (``<domain>/<device>``).
ACCELERATOR_DOMAINS = ("nvidia.com/", "amd.com/", "gpu.intel.com/")
#: Resources a request may be under its limit for (``IsOvercommitAllowed``).
OVERCOMMITTABLE = ("cpu", "memory", "ephemeral-storage")
#: Native resources pod-level ``spec.resources`` supports (plus ``hugepages-*``).
POD_LEVEL = ("cpu", "memory")

_SIDECAR = "has({c}.restartPolicy) && {c}.restartPolicy == 'Always'"


def _quantity(value: str) -> str:
    return f"quantity(string({value}))"


def _named(resources: str, kind: str, name: str) -> str:
    """CEL: whether ``resources.<kind>`` (requests/limits) names ``name`` (a CEL string)."""
    return f"(has({resources}.{kind}) && {name} in {resources}.{kind})"


def amount(container: str, resource: str) -> str:
    """CEL double: ``container``'s request of ``resource`` (requests, else limits, else 0)."""
    name = f"'{resource}'"
    res = f"{container}.resources"

    def value(kind: str) -> str:
        return f"{_quantity(f'{res}.{kind}[{name}]')}.asApproximateFloat()"

    return (
        f"(has({res}) && {_named(res, 'requests', name)} ? {value('requests')} : "
        f"has({res}) && {_named(res, 'limits', name)} ? {value('limits')} : 0.0)"
    )


def _sum(items: str, resource: str) -> str:
    return f"({items}.map(c, {amount('c', resource)}) + [0.0]).sum()"


def pod_request(replica: str, resource: str) -> str:
    """CEL double: the effective request of ``resource`` of one pod of ``replica`` (module
    docstring)."""
    inits = f"{replica}.initContainers"
    sidecars = f"{inits}.filter(c, {_SIDECAR.format(c='c')})"
    running = f"{_sum(f'{replica}.containers', resource)} + {_sum(sidecars, resource)}"
    before = (
        f"{inits}.filter(s, {_SIDECAR.format(c='s')} && {inits}.indexOf(s) < {inits}.indexOf(i))"
    )
    init = (
        f"{inits}.filter(i, !({_SIDECAR.format(c='i')}))"
        f".map(i, {amount('i', resource)} + {_sum(before, resource)})"
    )
    aggregate = f"([{running}] + {init}).max()"
    if resource not in POD_LEVEL:
        return aggregate
    name = f"'{resource}'"
    pod = f"{replica}.resources"
    asked = (
        f"({replica}.containers + {inits}).exists(c, has(c.resources) && "
        f"({_named('c.resources', 'requests', name)} || {_named('c.resources', 'limits', name)}))"
    )
    return (
        f"({_named(pod, 'requests', name)} ? "
        f"{_quantity(f'{pod}.requests[{name}]')}.asApproximateFloat() : "
        f"{_named(pod, 'limits', name)} && !{asked} ? "
        f"{_quantity(f'{pod}.limits[{name}]')}.asApproximateFloat() : {aggregate})"
    )


def _bad_request(resources: str) -> str:
    """CEL over ``k`` (a key of ``resources.requests``): the request is one the apiserver
    refuses."""
    request = _quantity(f"{resources}.requests[k]")
    limit = _quantity(f"{resources}.limits[k]")
    limited = _named(resources, "limits", "k")
    return (
        f"(k in {list(OVERCOMMITTABLE)} ? {limited} && {request}.isGreaterThan({limit}) : "
        f"!{limited} || {request}.compareTo({limit}) != 0)"
    )


def _why(resources: str) -> str:
    """CEL string over ``k``: why the request of ``k`` is refused (``_bad_request``)."""
    request = f"string({resources}.requests[k])"
    limit = f"string({resources}.limits[k])"
    return (
        f"(k in {list(OVERCOMMITTABLE)} ? 'request ' + {request} + ' exceeds its limit ' + "
        f"{limit} : {_named(resources, 'limits', 'k')} ? 'request ' + {request} + ' differs from "
        f"its limit ' + {limit} + ' (' + k + ' cannot be overcommitted: requests must equal "
        f"limits)' : 'request ' + {request} + ' has no limit (' + k + ' cannot be overcommitted: "
        "set limits equal to requests)')"
    )


def _first_per_container(replica: str, field: str, errors: str) -> str:
    """CEL list of strings: for each container of ``replica.<field>`` with a non-empty
    ``errors`` list (CEL over ``c``, a list of strings), its first error."""
    return f"{replica}.{field}.map(c, {errors}).filter(l, size(l) > 0).map(l, l[0])"


def _container_path(replica: str, field: str) -> str:
    return f"{replica}.path + '.template.spec.{field}[' + c.name + '].resources"


def request_errors(replica: str) -> str:
    """CEL list of strings: each container's (and the pod level's) first inconsistent request
    of ``replica``, with its field path (module docstring)."""

    def containers(field: str) -> str:
        res = "c.resources"
        errors = (
            f"has({res}) && has({res}.requests) ? {res}.requests.filter(k, {_bad_request(res)})"
            f".map(k, {_container_path(replica, field)}.requests[' + k + ']: ' + {_why(res)}) "
            ": []"
        )
        return _first_per_container(replica, field, errors)

    pod = f"{replica}.resources"
    supported = f"(k in {list(POD_LEVEL)} || k.startsWith('hugepages-'))"
    path = f"{replica}.path + '.template.spec.resources"
    pod_level = (
        f"(has({pod}.requests) ? {pod}.requests.filter(k, {_bad_request(pod)})"
        f".map(k, {path}.requests[' + k + ']: ' + {_why(pod)}) : []) + "
        f"(has({pod}.requests) ? {pod}.requests.filter(k, !{supported}) : [])"
        f".map(k, {path}.requests[' + k + ']: pod-level resources are cpu, memory and "
        "hugepages-* only (request ' + k + ' per container)') + "
        f"(has({pod}.limits) ? {pod}.limits.filter(k, !{supported}) : [])"
        f".map(k, {path}.limits[' + k + ']: pod-level resources are cpu, memory and hugepages-* "
        "only (limit ' + k + ' per container)')"
    )
    return f"{containers('initContainers')} + {containers('containers')} + {pod_level}"


def unoffered_errors(replica: str, offered: tuple[str, ...]) -> str:
    """CEL list of strings: each container's first accelerator resource (``ACCELERATOR_DOMAINS``)
    not in ``offered``, with its field path (module docstring)."""
    accelerator = " || ".join(f"k.startsWith('{d}')" for d in ACCELERATOR_DOMAINS)
    bad = f"({accelerator}) && !(k in {list(offered)})"

    def containers(field: str) -> str:
        res = "c.resources"
        named = " + ".join(
            f"(has({res}) && has({res}.{kind}) ? {res}.{kind}.filter(k, {bad})"
            f".map(k, {_container_path(replica, field)}.{kind}[' + k + ']') : [])"
            for kind in ("limits", "requests")
        )
        return _first_per_container(replica, field, named)

    return f"{containers('initContainers')} + {containers('containers')}"
