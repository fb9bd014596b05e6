"""Will a team stack's objects be admitted and scheduled? Checked on the config, before any object.

A real cluster refuses what offline schema checks accept; these checks find it at config time,
each problem as ``(kubeai:<key path>, message)`` naming what would be valid:

* ``admission_problems(config)`` — what the admission plugins of the team's own namespaces would
  refuse: every rendered container's requests and limits against the team LimitRange's
  ``max``/``min`` (LimitRanger), one replica and all replicas against the ResourceQuota
  (``requests.cpu``/``requests.memory``), the datasets' PVCs against ``requests.storage`` and
  ``persistentvolumeclaims``, and the namespace of the Fluid cache pods against its Pod Security
  level (PodSecurity).
* ``placement_problems(config, platform)`` — what the scheduler could never place on the
  platform's nodes (``PlatformOutputs.node_pools``): more GPUs per replica than any usable node
  holds, a GPU type or pool the platform lacks, CPU/memory above a node's allocatable.

The containers checked are the ones the platform renders: per inference service the
``tritonserver`` container (``InferenceServiceConfig.triton_resources``) and the serving agent
(``AGENT_RESOURCES``); per dataset every runtime container (``DatasetRuntime.containers``).
``tests/cluster/test_refusals.py`` shows the control plane refusing each class with these checks
off. ``parse_config`` runs ``admission_problems`` (through ``team_problems``) and
``TeamConfig.check_against_platform`` runs ``placement_problems``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from infra.config.outputs import PlatformOutputs, PoolOutput
from infra.config.shared import (
    GPU_PRESENT_LABEL,
    GPU_TYPE_LABEL,
    NAMESPACE,
    POOL_LABEL,
    ContainerResources,
    Resources,
    untolerated,
)
from infra.config.team import (
    AGENT_RESOURCES,
    InferenceServiceConfig,
    LimitRangeConfig,
    TeamConfig,
)
from infra.quantity import parse_quantity

Problem = tuple[str, str]
_CPU_MEMORY: tuple[Literal["cpu", "memory"], ...] = ("cpu", "memory")
#: Pod Security level Fluid's runtime pods need: FUSE containers are privileged (SYS_ADMIN,
#: /dev/fuse) and cache workers mount hostPath volumes; ``baseline`` forbids both.
FLUID_POD_SECURITY = "privileged"


def _key(path: str) -> str:
    return f"{NAMESPACE}:{path}"


def _amount(resources: Resources, resource: Literal["cpu", "memory"]) -> Decimal:
    return resources.amount(resource) or Decimal(0)


def _show(amount: Decimal, resource: Literal["cpu", "memory"]) -> str:
    if resource == "cpu":
        return f"{amount.normalize():f}"
    return f"{(amount / 2**30).quantize(Decimal('0.01')).normalize():f}Gi"


def pod_requests(service: InferenceServiceConfig, limit_range: LimitRangeConfig) -> Resources:
    """Requests of one replica of ``service``: tritonserver plus the agent, and its GPUs."""
    triton = service.triton_resources(limit_range).requests
    amounts = {r: _amount(triton, r) + _amount(AGENT_RESOURCES.requests, r) for r in _CPU_MEMORY}
    return Resources(
        cpu=_show(amounts["cpu"], "cpu"),
        memory=f"{int(amounts['memory'])}",
        gpus=service.gpus,
    )


def container_limit_problems(
    container: ContainerResources, limit_range: LimitRangeConfig, *, where: str, what: str
) -> list[Problem]:
    """One container's requests and limits against the LimitRange ``max`` and ``min``.

    ``where``: the key path reported; ``what``: the container named in the message.
    """
    problems: list[Problem] = []
    bounds = (("max", limit_range.max, 1), ("min", limit_range.min, -1))
    for bound_name, bound, sign in bounds:
        if bound is None:
            continue
        for resource in _CPU_MEMORY:
            edge = bound.amount(resource)
            if edge is None:
                continue
            beyond = [
                f"{kind} {getattr(values, resource)}"
                for kind, values in (("request", container.requests), ("limit", container.limits))
                if (value := values.amount(resource)) is not None and (value - edge) * sign > 0
            ]
            if beyond:
                relation = "above" if sign > 0 else "below"
                problems.append(
                    (
                        where,
                        f"{what}: {resource} {' and '.join(beyond)} {relation} the LimitRange "
                        f"{bound_name} {getattr(bound, resource)} "
                        f"({_key(f'limitRange.{bound_name}.{resource}')}); LimitRanger would "
                        "refuse the pod",
                    )
                )
    return problems


def _limit_range_problems(config: TeamConfig) -> list[Problem]:
    limit_range = config.limit_range
    problems: list[Problem] = []
    for index, service in enumerate(config.inference_services):
        where = f"inferenceServices[{index}]"
        triton = service.triton_resources(limit_range)
        for resource in _CPU_MEMORY:
            single = ContainerResources(
                requests=Resources(**{resource: getattr(triton.requests, resource)}),
                limits=Resources(**{resource: getattr(triton.limits, resource)}),
            )
            key = "cpuLimit" if resource == "cpu" and service.cpu_limit else resource
            problems += container_limit_problems(
                single,
                limit_range,
                where=_key(f"{where}.{key}"),
                what=f"container tritonserver of service {service.name!r}",
            )
        problems += container_limit_problems(
            AGENT_RESOURCES,
            limit_range,
            where=_key(f"{where}"),
            what=f"container serving-agent of service {service.name!r} (fixed resources "
            f"{AGENT_RESOURCES.manifest()})",
        )
    for index, dataset in enumerate(config.datasets):
        for component, container in dataset.runtime.containers().items():
            problems += container_limit_problems(
                container,
                limit_range,
                where=_key(f"datasets[{index}].runtime"),
                what=f"Fluid {dataset.runtime.kind} {component} container of dataset "
                f"{dataset.name!r} in namespace {config.cache_namespace!r}",
            )
    return problems


def _quota_problems(config: TeamConfig) -> list[Problem]:
    quota = config.quota.as_resources()
    problems: list[Problem] = []
    totals = dict.fromkeys(_CPU_MEMORY, Decimal(0))
    for index, service in enumerate(config.inference_services):
        pod = pod_requests(service, config.limit_range)
        for resource in _CPU_MEMORY:
            one, hard = _amount(pod, resource), _amount(quota, resource)
            totals[resource] += one * service.max_replicas
            if one > hard:
                problems.append(
                    (
                        _key(f"inferenceServices[{index}].{resource}"),
                        f"one replica of service {service.name!r} requests "
                        f"{_show(one, resource)} {resource} (tritonserver + serving agent) but "
                        f"the team ResourceQuota allows {getattr(quota, resource)} "
                        f"({_key(f'quota.{resource}')}); ResourceQuota would refuse every pod",
                    )
                )
    for resource in _CPU_MEMORY:
        hard = _amount(quota, resource)
        if totals[resource] > hard and not any(p[0].endswith(f".{resource}") for p in problems):
            problems.append(
                (
                    _key(f"quota.{resource}"),
                    f"inferenceServices request up to {_show(totals[resource], resource)} "
                    f"{resource} (requests x max replicas) but the quota allows "
                    f"{getattr(quota, resource)}",
                )
            )
    return problems


def _storage_problems(config: TeamConfig) -> list[Problem]:
    quota = config.quota
    hard = parse_quantity(quota.storage)
    problems: list[Problem] = []
    total = Decimal(0)
    for index, dataset in enumerate(config.datasets):
        size = parse_quantity(dataset.size)
        total += size
        if size > hard:
            problems.append(
                (
                    _key(f"datasets[{index}].size"),
                    f"dataset {dataset.name!r} needs a {dataset.size} PVC but the team's storage "
                    f"quota is {quota.storage} ({_key('quota.storage')}, requests.storage)",
                )
            )
    if total > hard and not problems:
        sizes = ", ".join(f"{d.name} {d.size}" for d in config.datasets)
        problems.append(
            (
                _key("quota.storage"),
                f"the datasets' PVCs need {_show(total, 'memory')} in all ({sizes}) but the "
                f"storage quota (requests.storage) is {quota.storage}",
            )
        )
    if len(config.datasets) > quota.persistent_volume_claims:
        problems.append(
            (
                _key("quota.persistentVolumeClaims"),
                f"{len(config.datasets)} datasets need as many PVCs but the quota allows "
                f"{quota.persistent_volume_claims}",
            )
        )
    return problems


def _pod_security_problems(config: TeamConfig) -> list[Problem]:
    """Fluid runtime pods vs the Pod Security level of the namespace they would run in."""
    if not config.datasets:
        return []
    team = config.team.name
    namespace = config.cache_namespace
    problems: list[Problem] = []
    if namespace == team:
        level = config.team.pod_security
        if level == FLUID_POD_SECURITY:
            problems.append(
                (
                    _key("datasetCache.namespace"),
                    f"the cache pods would make the team namespace {team!r} privileged: every "
                    "pod the team runs could then be privileged; leave datasetCache.namespace "
                    "unset (kubeai-cache-<team>)",
                )
            )
            return problems
    else:
        level = config.dataset_cache.pod_security
        if len(namespace) > 63:
            problems.append(
                (_key("datasetCache.namespace"), f"{namespace!r} is longer than 63 characters")
            )
    if level != FLUID_POD_SECURITY:
        for index, dataset in enumerate(config.datasets):
            problems.append(
                (
                    _key(f"datasets[{index}].runtime"),
                    f"Fluid would run the {dataset.runtime.kind} runtime pods of dataset "
                    f"{dataset.name!r} (privileged FUSE container, hostPath cache worker) in "
                    f"namespace {namespace!r}, whose Pod Security level {level!r} forbids them; "
                    "they need a privileged namespace apart from the team's: leave "
                    "datasetCache unset (kubeai-cache-<team>, privileged)",
                )
            )
    return problems


def admission_problems(config: TeamConfig) -> list[Problem]:
    """What the team's namespaces' admission would refuse (module docstring)."""
    return [
        *_limit_range_problems(config),
        *_quota_problems(config),
        *_storage_problems(config),
        *_pod_security_problems(config),
    ]


def _matches(pool: PoolOutput, selector: dict[str, str]) -> bool:
    return all(pool.labels.get(k) == v for k, v in selector.items())


def _describe(pools: list[PoolOutput]) -> str:
    return ", ".join(
        f"{p.name}: {p.gpus_per_node} x {p.gpu_type}" if p.gpus_per_node else f"{p.name}: CPU"
        for p in pools
    )


def _node_fit_problems(
    where: str, service: InferenceServiceConfig, pod: Resources, pools: list[PoolOutput]
) -> list[Problem]:
    """Requests of one replica against the allocatable of ``pools`` (all must declare it)."""
    if not pools or any(p.allocatable is None for p in pools):
        return []
    problems: list[Problem] = []
    for resource in _CPU_MEMORY:
        need = _amount(pod, resource)
        best = max(pools, key=lambda p: _amount(p.allocatable or Resources(), resource))
        room = _amount(best.allocatable or Resources(), resource)
        if need > room:
            problems.append(
                (
                    _key(f"{where}.{resource}"),
                    f"one replica of service {service.name!r} requests {_show(need, resource)} "
                    f"{resource} (tritonserver + serving agent) but the largest node it may use "
                    f"(pool {best.name!r}) offers {_show(room, resource)}: it would stay Pending",
                )
            )
    return problems


def _service_placement(
    index: int, service: InferenceServiceConfig, config: TeamConfig, platform: PlatformOutputs
) -> list[Problem]:
    where = f"inferenceServices[{index}]"
    pools = platform.node_pools
    gpu_types = sorted({p.gpu_type for p in pools if p.gpus_per_node})
    selector = service.node_selector_with_gpu_type
    valid_types = ", ".join(gpu_types) or "none"
    problems: list[Problem] = []
    if service.gpu_type and service.gpu_type not in gpu_types:
        problems.append(
            (
                _key(f"{where}.gpuType"),
                f"platform stack {config.platform_stack!r} has no GPU type "
                f"{service.gpu_type!r}; valid: {valid_types}",
            )
        )
    named = service.node_selector.get(GPU_TYPE_LABEL)
    if named is not None and named not in gpu_types:
        problems.append(
            (
                _key(f"{where}.nodeSelector"),
                f"{GPU_TYPE_LABEL}={named} names a GPU type platform stack "
                f"{config.platform_stack!r} lacks; valid: {valid_types}",
            )
        )
    pool_name = service.node_selector.get(POOL_LABEL)
    if pool_name is not None and pool_name not in {p.name for p in pools}:
        problems.append(
            (
                _key(f"{where}.nodeSelector"),
                f"{POOL_LABEL}={pool_name} names no pool of platform stack "
                f"{config.platform_stack!r}; valid: {', '.join(p.name for p in pools)}",
            )
        )
    if problems:
        return problems
    tolerations = service.effective_tolerations
    usable = [p for p in pools if _matches(p, selector) and not untolerated(p.taints, tolerations)]
    pod = pod_requests(service, config.limit_range)
    if not service.gpus:
        return _node_fit_problems(where, service, pod, usable) if selector else []
    gpu_pools = [p for p in usable if p.gpus_per_node and _matches(p, {GPU_PRESENT_LABEL: "true"})]
    if not gpu_pools:
        return [
            (
                _key(where),
                f"service {service.name!r} asks for GPUs but no GPU pool of platform stack "
                f"{config.platform_stack!r} matches its nodeSelector {selector} and tolerations "
                f"(pools: {_describe(pools) or 'none'})",
            )
        ]
    fitting = [p for p in gpu_pools if p.gpus_per_node >= service.gpus]
    if not fitting:
        most = max(p.gpus_per_node for p in gpu_pools)
        return [
            (
                _key(f"{where}.gpus"),
                f"service {service.name!r} asks for {service.gpus} GPUs per replica but no node "
                f"it may use on platform stack {config.platform_stack!r} has more than {most} "
                f"({_describe(gpu_pools)}): use at most {most}, or a pool with larger nodes; "
                "the replica would stay Pending",
            )
        ]
    return _node_fit_problems(where, service, pod, fitting)


def placement_problems(config: TeamConfig, platform: PlatformOutputs) -> list[Problem]:
    """What the scheduler could never place on the platform's nodes (module docstring).

    Returns nothing when the platform outputs carry no node pools (an older platform export).
    """
    if not platform.node_pools:
        return []
    problems: list[Problem] = []
    for index, service in enumerate(config.inference_services):
        problems += _service_placement(index, service, config, platform)
    return problems
