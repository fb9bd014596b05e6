"""Admission guardrails for a team's training jobs: a ValidatingAdmissionPolicy per team.

A training job whose gang, queue or per-replica resources the team's queue, quota and node pools
can never satisfy is refused at ``kubectl apply`` (by the apiserver itself: CEL, no webhook
server), with a message naming the field path and the limit, instead of sitting Pending forever.

Objects (all pure manifests here; ``infra.tenancy`` declares them):

* ValidatingAdmissionPolicy ``kubeai-training-<team>`` (``policy_spec``) and its binding
  (``binding_spec``): ``validationActions: [Deny]``, only in the team's namespace. The team's
  limits (``TrainingLimits``) are the policy's first variable, ``limits``, a CEL map literal: no
  ``paramKind``. Why: the apiserver resolves a binding's params *before* its ``matchConditions``
  (k8s.io/apiserver v0.35.4, ``policy/generic/policy_dispatcher.go``: ``CollectParams`` runs per
  binding, matchConditions inside the evaluator), so with a params ConfigMap in the team's
  namespace, which team admins may delete, a missing ConfigMap refused every update of a job,
  the controller's annotation patches included, and an edited one loosened the limits. A
  cluster-scoped policy the team cannot touch holds them now; per team, so a team stack owns
  (and on destroy removes) exactly its own objects.
* ConfigMap ``kubeai-training-limits`` in the team namespace (``limits_configmap``): the same
  limits as strings, read by ``kubeai train submit`` to render jobs that pass. It is no input of
  the policy: editing or deleting it changes nothing at admission.

Jobs checked (field names from the pinned CRDs): kubeflow.org/v1 ``PyTorchJob``
(``spec.pytorchReplicaSpecs``), ``TFJob`` (``spec.tfReplicaSpecs``), ``XGBoostJob``
(``spec.xgbReplicaSpecs``), ``MPIJob`` (``spec.mpiReplicaSpecs``), each ``{<type>: {replicas,
template}}`` with ``spec.runPolicy.schedulingPolicy.{minAvailable,queue}``
(``crds/training-operator/v1.9.4/kubeflow.org_*.yaml``); batch.volcano.sh/v1alpha1 ``Job``
(``spec.minAvailable``, ``spec.queue``, ``spec.tasks[].{replicas,template}``,
``crds/volcano/v1.15.1/batch.volcano.sh_jobs.yaml``); batch/v1 ``Job`` carrying the label
``kubeai.dev/model`` (``spec.parallelism`` replicas of ``spec.template``; unlabelled batch Jobs
are no training jobs and are left alone). CREATE is checked, and an UPDATE only when it changes
``spec`` (controllers annotating a job, e.g. with its registered version, always pass), UPDATEs
of the ``scale`` subresource included (``SCALABLE``; rule ``scale-up``).

A replica's GPUs, CPU and memory are one pod's effective requests as Kubernetes counts them, init
containers, sidecars and pod-level ``spec.resources`` included (``infra.policies.pod_resources``);
elastic Workers count at ``spec.elasticPolicy.maxReplicas`` (``ELASTIC_KINDS``). ``RULES`` lists
every rule with its message (the README's table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from infra.config.outputs import PlatformOutputs
from infra.config.shared import GPU_RESOURCE, GPU_TAINT_KEY, GPU_TYPE_LABEL, POOL_LABEL
from infra.config.team import TeamConfig
from infra.policies.pod_resources import pod_request, request_errors, unoffered_errors

#: Name of the limits ConfigMap in the team namespace (read by ``kubeai train submit``).
LIMITS_CONFIGMAP = "kubeai-training-limits"
#: Label of the training jobs the lifecycle controller registers (batch/v1 Jobs need it here).
MODEL_LABEL = "kubeai.dev/model"
#: Label every namespace carries with its own name (set by the apiserver).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: The queue Volcano's job webhook sets on a job without one; a team namespace's annotation
#: ``scheduling.volcano.sh/queue-name`` moves PodGroups left there into the team's queue.
VOLCANO_DEFAULT_QUEUE = "default"
#: kubeflow.org/v1 kind -> its replica specs field under ``spec``.
KUBEFLOW_REPLICA_SPECS = {
    "PyTorchJob": "pytorchReplicaSpecs",
    "TFJob": "tfReplicaSpecs",
    "XGBoostJob": "xgbReplicaSpecs",
    "MPIJob": "mpiReplicaSpecs",
}
_KUBEFLOW_RESOURCES = ["pytorchjobs", "tfjobs", "xgboostjobs", "mpijobs"]
#: Kinds whose ``spec.elasticPolicy.maxReplicas`` lets the Worker replicas grow.
ELASTIC_KINDS = ("PyTorchJob",)
_ELASTIC = (
    "(has(object.spec.elasticPolicy) && has(object.spec.elasticPolicy.maxReplicas) ? "
    "int(object.spec.elasticPolicy.maxReplicas) : -1)"
)
#: Resources of the checked kinds that declare a ``scale`` subresource in the pinned CRDs, and the
#: field it scales (training-operator v1.9.4: only PyTorchJob among them; TFJob, XGBoostJob,
#: MPIJob, Volcano's Job and batch/v1 Job have none).
SCALABLE = {"pytorchjobs": "spec.pytorchReplicaSpecs.Worker.replicas"}
#: Who may scale a training job up through ``/scale``: the HorizontalPodAutoscaler controller
#: (kube-controller-manager with ``--use-service-account-credentials``, and without), which the
#: training operator points at an elastic PyTorchJob with ``maxReplicas`` =
#: ``elasticPolicy.maxReplicas``, a bound the policy checks on the job itself.
SCALERS = (
    "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
    "system:kube-controller-manager",
)
#: Accelerator resources the platform's node pools offer (``pod_resources.unoffered_errors``).
OFFERED_ACCELERATORS = (GPU_RESOURCE,)


def policy_name(team: str) -> str:
    """Name of the team's policy and of its binding (``kubeai-training-<team>``)."""
    return f"kubeai-training-{team}"


# ---------------------------------------------------------------------------------------------
# the limits: what the team's queue, quota and pools allow


@dataclass(frozen=True)
class TrainingLimits:
    """The limits of one team's training jobs (the policy's ``limits`` and the ConfigMap's
    ``data``, all strings).

    ``queue``: the team's Volcano Queue. ``pools``/``gpu_types``: the node pools (values of
    ``kubeai.dev/pool``) and GPU types (``kubeai.dev/gpu-type``) a node selector may name.
    ``max_gpus_per_node``: GPUs of the largest GPU node of those pools (0: no GPU pool).
    ``max_cpu_per_node``/``max_memory_per_node``: the largest node's allocatable (None when a
    pool does not declare it: not checked). ``max_pods``: the quota's ``pods``. ``max_gpus``,
    ``max_cpu``, ``max_memory``: what all the job's replicas together may request (the smaller
    of the ResourceQuota, the Queue's capability and, for GPUs, the GPU pools at maximum size).
    ``gpu_taint``: ``(key, value, effect)`` of the taint GPU nodes carry (None: untainted).
    """

    team: str
    queue: str
    pools: tuple[str, ...]
    gpu_types: tuple[str, ...]
    max_gpus_per_node: int | None
    max_cpu_per_node: str | None
    max_memory_per_node: str | None
    max_pods: int
    max_gpus: int
    max_cpu: str
    max_memory: str
    gpu_taint: tuple[str, str, str] | None

    def data(self) -> dict[str, str]:
        """The ConfigMap ``data`` (keys absent for unknown limits; lists comma-separated)."""
        out = {
            "team": self.team,
            "queue": self.queue,
            "pools": ",".join(self.pools),
            "gpuTypes": ",".join(self.gpu_types),
            "maxPods": str(self.max_pods),
            "maxGpus": str(self.max_gpus),
            "maxCpu": self.max_cpu,
            "maxMemory": self.max_memory,
        }
        optional = {
            "maxGpusPerNode": None
            if self.max_gpus_per_node is None
            else str(self.max_gpus_per_node),
            "maxCpuPerNode": self.max_cpu_per_node,
            "maxMemoryPerNode": self.max_memory_per_node,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.gpu_taint is not None:
            key, value, effect = self.gpu_taint
            out.update({"gpuTaintKey": key, "gpuTaintValue": value, "gpuTaintEffect": effect})
        return out


def _smallest(*values: str | None) -> str:
    given = [v for v in values if v is not None]
    from infra.quantity import parse_quantity

    return min(given, key=parse_quantity)


def training_limits(config: TeamConfig, platform: PlatformOutputs) -> TrainingLimits:
    """The team's ``TrainingLimits`` from its config and its platform's outputs.

    With no node pools in the platform outputs (an export older than them) the per-node limits
    are unknown (None) and ``pools``/``gpu_types`` empty (then node selectors naming a pool or a
    GPU type are refused: nothing the team could use is known).
    """
    pools = platform.node_pools
    gpu_pools = [p for p in pools if p.gpus_per_node]
    capability = config.queue.capability
    max_gpus = config.quota.gpus
    if capability.gpus is not None:
        max_gpus = min(max_gpus, capability.gpus)
    if pools:
        max_gpus = min(max_gpus, sum(platform.gpu_capacity.values()))
    per_node: dict[Literal["cpu", "memory"], str | None] = {"cpu": None, "memory": None}
    if pools and all(p.allocatable is not None for p in pools):
        for resource in per_node:
            amounts = [
                (p.allocatable.amount(resource) or Decimal(0), getattr(p.allocatable, resource))
                for p in pools
                if p.allocatable is not None
            ]
            per_node[resource] = max(amounts)[1] if all(a[1] for a in amounts) else None
    taints = {
        (t.key, t.value, t.effect)
        for p in gpu_pools
        for t in p.taints
        if t.key == GPU_TAINT_KEY and t.effect != "PreferNoSchedule"
    }
    return TrainingLimits(
        team=config.team.name,
        queue=config.team.name,
        pools=tuple(p.name for p in pools),
        gpu_types=tuple(sorted({p.gpu_type for p in gpu_pools})),
        max_gpus_per_node=max((p.gpus_per_node for p in pools), default=0) if pools else None,
        max_cpu_per_node=per_node["cpu"],
        max_memory_per_node=per_node["memory"],
        max_pods=config.quota.pods,
        max_gpus=max_gpus,
        max_cpu=_smallest(config.quota.cpu, capability.cpu),
        max_memory=_smallest(config.quota.memory, capability.memory),
        gpu_taint=min(taints) if taints else None,
    )


def limits_metadata(team: str) -> dict[str, Any]:
    """``metadata`` of the limits ConfigMap of ``team`` (in the team namespace)."""
    return {
        "name": LIMITS_CONFIGMAP,
        "namespace": team,
        "labels": {"app.kubernetes.io/part-of": "kubeai"},
    }


def limits_configmap(limits: TrainingLimits) -> dict[str, Any]:
    """The limits ConfigMap ``kubeai-training-limits`` in the team namespace."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": limits_metadata(limits.team),
        "data": limits.data(),
    }


# ---------------------------------------------------------------------------------------------
# the policy (CEL)


#: The CEL name of the team's limits (``TrainingLimits.data()`` as a map literal, ``policy_spec``).
_LIMITS = "variables.limits"


def _param(key: str) -> str:
    return f"{_LIMITS}['{key}']"


def _known(key: str) -> str:
    return f"('{key}' in {_LIMITS})"


def limits_literal(limits: TrainingLimits) -> str:
    """CEL map literal of ``limits.data()`` (the policy's ``limits`` variable)."""
    entries = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in limits.data().items())
    return f"{{{entries}}}"


def _replica(path: str, replicas: str, spec: str) -> str:
    """CEL map of one replica type: its field ``path``, its replica count and pod spec parts."""
    pod = f"{spec}.template.spec"
    has_pod = f"has({spec}.template) && has({pod})"

    def part(field: str, empty: str) -> str:
        return f"'{field}': dyn({has_pod} && has({pod}.{field}) ? {pod}.{field} : {empty})"

    parts = ", ".join(
        part(field, empty)
        for field, empty in (
            ("containers", "[]"),
            ("initContainers", "[]"),
            ("resources", "{}"),
            ("tolerations", "[]"),
            ("nodeSelector", "{}"),
        )
    )
    return f"{{'path': dyn({path}), 'replicas': dyn({replicas}), {parts}}}"


def _replica_types() -> str:
    """CEL list of the job's replica types (``_replica`` maps), whatever the job's kind."""
    volcano = (
        "has(object.spec.tasks) ? object.spec.tasks.map(t, "
        + _replica(
            "'spec.tasks[' + string(object.spec.tasks.indexOf(t)) + ']'",
            "has(t.replicas) ? t.replicas : 1",
            "t",
        )
        + ") : []"
    )
    batch = (
        "["
        + _replica(
            "'spec'", "has(object.spec.parallelism) ? object.spec.parallelism : 1", "object.spec"
        )
        + "]"
    )
    branches = [
        f"object.apiVersion.startsWith('batch.volcano.sh/') ? ({volcano})",
        f"object.apiVersion == 'batch/v1' ? {batch}",
    ]
    for kind, field in KUBEFLOW_REPLICA_SPECS.items():
        specs = f"object.spec.{field}"
        count = f"(has({specs}[k].replicas) ? int({specs}[k].replicas) : 1)"
        if kind in ELASTIC_KINDS:
            # elastic Workers may grow to elasticPolicy.maxReplicas: counted at their maximum
            count = f"(k == 'Worker' && {_ELASTIC} > {count} ? {_ELASTIC} : {count})"
        item = _replica(f"'spec.{field}.' + k", count, f"{specs}[k]")
        branches.append(f"object.kind == '{kind}' ? (has({specs}) ? {specs}.map(k, {item}) : [])")
    return " : ".join(branches) + " : []"


def _replicas_path() -> str:
    """CEL: the path of the job's replica counts (``spec.<kind's replica specs>[*].replicas``,
    ``spec.tasks[*].replicas``, ``spec.parallelism``; elastic Workers counted at
    ``spec.elasticPolicy.maxReplicas``)."""
    branches = [
        "object.apiVersion.startsWith('batch.volcano.sh/') ? 'spec.tasks[*].replicas'",
        "object.apiVersion == 'batch/v1' ? 'spec.parallelism'",
    ]
    for kind, field in KUBEFLOW_REPLICA_SPECS.items():
        path = f"'spec.{field}[*].replicas'"
        if kind in ELASTIC_KINDS:
            path = (
                f"({_ELASTIC} >= 0 ? 'spec.{field}[*].replicas (Worker: "
                f"spec.elasticPolicy.maxReplicas ' + string({_ELASTIC}) + ')' : {path})"
            )
        branches.append(f"object.kind == '{kind}' ? {path}")
    return " : ".join(branches) + " : 'replicas'"


def _sized(replica: str) -> str:
    """CEL: the replica type map with one pod's effective ``gpus``, ``cpu`` and ``memory``
    (``infra.policies.pod_resources.pod_request``)."""
    return (
        f"{{'path': dyn({replica}.path), 'replicas': dyn({replica}.replicas), "
        f"'gpus': dyn({pod_request(replica, GPU_RESOURCE)}), "
        f"'cpu': dyn({pod_request(replica, 'cpu')}), "
        f"'memory': dyn({pod_request(replica, 'memory')}), "
        f"'tolerations': dyn({replica}.tolerations), "
        f"'nodeSelector': dyn({replica}.nodeSelector)}}"
    )


_KUBEFLOW = "object.apiVersion.startsWith('kubeflow.org/')"
_VOLCANO = "object.apiVersion.startsWith('batch.volcano.sh/')"
_SCHEDULING = "object.spec.runPolicy.schedulingPolicy"
_HAS_SCHEDULING = f"{_KUBEFLOW} && has(object.spec.runPolicy) && has({_SCHEDULING})"

#: ``(name, CEL)`` of the policy's variables, in order (later ones read earlier ones; all may
#: read ``limits``, the team's limits, which ``policy_spec`` puts first).
VARIABLES: tuple[tuple[str, str], ...] = (
    ("types", _replica_types()),
    (
        "requestErrors",
        "variables.types.map(r, " + request_errors("r") + ").filter(l, size(l) > 0).map(l, l[0])",
    ),
    (
        "unofferedErrors",
        "variables.types.map(r, "
        + unoffered_errors("r", OFFERED_ACCELERATORS)
        + ").filter(l, size(l) > 0).map(l, l[0])",
    ),
    ("replicas", f"variables.types.map(r, {_sized('r')})"),
    (
        "queue",
        f"{_VOLCANO} && has(object.spec.queue) ? object.spec.queue : "
        f"{_HAS_SCHEDULING} && has({_SCHEDULING}.queue) ? {_SCHEDULING}.queue : ''",
    ),
    (
        "queuePath",
        f"{_VOLCANO} ? 'spec.queue' : 'spec.runPolicy.schedulingPolicy.queue'",
    ),
    (
        "minAvailable",
        f"{_VOLCANO} && has(object.spec.minAvailable) ? int(object.spec.minAvailable) : "
        f"{_HAS_SCHEDULING} && has({_SCHEDULING}.minAvailable) ? "
        f"int({_SCHEDULING}.minAvailable) : -1",
    ),
    (
        "minAvailablePath",
        f"{_VOLCANO} ? 'spec.minAvailable' : 'spec.runPolicy.schedulingPolicy.minAvailable'",
    ),
    ("replicasPath", _replicas_path()),
    ("total", "(variables.replicas.map(r, int(r.replicas)) + [0]).sum()"),
    (
        "gang",
        "variables.minAvailable >= 0 ? variables.minAvailable : variables.total",
    ),
    ("gpus", "(variables.replicas.map(r, double(r.replicas) * r.gpus) + [0.0]).sum()"),
    ("cpu", "(variables.replicas.map(r, double(r.replicas) * r.cpu) + [0.0]).sum()"),
    ("memory", "(variables.replicas.map(r, double(r.replicas) * r.memory) + [0.0]).sum()"),
    (
        "toleratesGpuTaint",
        # per replica type: whether one of its tolerations tolerates the GPU taint
        f"variables.replicas.map(r, !{_known('gpuTaintKey')} || r.tolerations.exists(t, "
        f"(!has(t.effect) || t.effect == '' || t.effect == {_param('gpuTaintEffect')}) && "
        f"(has(t.key) && t.key != '' ? (t.key == {_param('gpuTaintKey')} && "
        "((has(t.operator) && t.operator == 'Exists') || "
        f"(has(t.value) ? t.value : '') == {_param('gpuTaintValue')})) : "
        "(has(t.operator) && t.operator == 'Exists'))))",
    ),
)


@dataclass(frozen=True)
class Rule:
    """One validation: ``expression`` (CEL, true = admitted) and ``message_expression`` (CEL
    string naming the field path and the limit); ``summary``/``message`` for the README."""

    name: str
    expression: str
    message_expression: str
    summary: str
    message: str

    def validation(self) -> dict[str, str]:
        """The policy's ``validations[]`` entry."""
        return {
            "expression": self.expression,
            "messageExpression": self.message_expression,
            "message": f"{self.name}: {self.summary}",
            "reason": "Invalid",
        }


def _first(bad: str) -> str:
    """CEL: the first replica type for which ``bad`` (over ``r``) holds."""
    return f"variables.replicas.filter(r, {bad})[0]"


def _gi(amount: str) -> str:
    return f"string(double(int({amount} / 1048576.0 + 0.5)) / 1024.0) + 'Gi'"


def _team() -> str:
    return f"'team ' + {_param('team')}"


_BAD_GPUS_PER_NODE = f"r.gpus > double({_param('maxGpusPerNode')})"
_BAD_CPU_PER_NODE = f"r.cpu > quantity({_param('maxCpuPerNode')}).asApproximateFloat()"
_BAD_MEMORY_PER_NODE = f"r.memory > quantity({_param('maxMemoryPerNode')}).asApproximateFloat()"
_BAD_TOLERATION = "r.gpus > 0.0 && !variables.toleratesGpuTaint[variables.replicas.indexOf(r)]"
_POOL = f"'{POOL_LABEL}'"
_GPU_TYPE = f"'{GPU_TYPE_LABEL}'"
_BAD_POOL = (
    f"{_POOL} in r.nodeSelector && !(r.nodeSelector[{_POOL}] in {_param('pools')}.split(','))"
)
_BAD_GPU_TYPE = (
    f"{_GPU_TYPE} in r.nodeSelector && "
    f"!(r.nodeSelector[{_GPU_TYPE}] in {_param('gpuTypes')}.split(','))"
)
_TEMPLATE = ".template.spec.containers[*].resources"

_SCALE_FIELD = "{" + ", ".join(f"'{r}': '{f}'" for r, f in SCALABLE.items()) + "}"


def _scale_replicas(scale: str) -> str:
    """CEL: ``spec.replicas`` of an autoscaling/v1 Scale (``object``/``oldObject``; unset = 0)."""
    return f"(has({scale}.spec) && has({scale}.spec.replicas) ? {scale}.spec.replicas : 0)"


_NEW_REPLICAS = _scale_replicas("object")
_OLD_REPLICAS = _scale_replicas("oldObject")

RULES: tuple[Rule, ...] = (
    Rule(
        "scale-up",
        # a Scale (autoscaling/v1) carries a replica count and no pod template: the whole job
        # cannot be checked from it, so growth goes through the job's spec (checked in full)
        f"request.subResource != 'scale' || {_NEW_REPLICAS} <= {_OLD_REPLICAS} || "
        f"request.userInfo.username in {list(SCALERS)}",
        "request.resource.resource + '/scale: scaling ' + request.name + ' up from ' + "
        f"string({_OLD_REPLICAS}) + ' to ' + string({_NEW_REPLICAS}) + ' replicas through the "
        "scale subresource is refused (a Scale carries no pod template, so the guardrails cannot "
        f"check the job): set ' + {_SCALE_FIELD}[request.resource.resource] + ' on the job "
        "itself, where every limit is checked, or give it an elasticPolicy (scaled by the "
        "autoscaler up to its checked maxReplicas)'",
        "a training job grows through its own spec, not its `/scale` subresource (scaling down, "
        "and the HorizontalPodAutoscaler within an elastic job's checked `maxReplicas`, pass)",
        "`pytorchjobs/scale: scaling <job> up from <n> to <m> replicas through the scale "
        "subresource is refused (...): set spec.pytorchReplicaSpecs.Worker.replicas on the job "
        "itself, where every limit is checked, ...`",
    ),
    Rule(
        "requests-limits",
        "size(variables.requestErrors) == 0",
        "variables.requestErrors[0] + ': Kubernetes would refuse every pod of the job'",
        "every request is one Kubernetes accepts: at most its limit (`cpu`, `memory`, "
        "`ephemeral-storage`), equal to it for extended resources such as `nvidia.com/gpu`; "
        "pod-level `spec.resources` only for `cpu`, `memory`, `hugepages-*`",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.containers[pytorch].resources.requests"
        "[nvidia.com/gpu]: request 9 differs from its limit 0 (nvidia.com/gpu cannot be "
        "overcommitted: requests must equal limits): Kubernetes would refuse every pod of the "
        "job`",
    ),
    Rule(
        "accelerators",
        "size(variables.unofferedErrors) == 0",
        "variables.unofferedErrors[0] + ': no node of ' + "
        f"{_team()} + \"'s pools offers this resource (they offer whole GPUs as {GPU_RESOURCE}; "
        "MIG slices and other accelerators are not configured), so the pod would never be "
        'scheduled"',
        f"accelerator resources (`nvidia.com/*`, `amd.com/*`, `gpu.intel.com/*`) are only "
        f"`{GPU_RESOURCE}`, the one the team's pools offer",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.containers[pytorch].resources.limits"
        "[nvidia.com/mig-7g.80gb]: no node of team <t>'s pools offers this resource (...)`",
    ),
    Rule(
        "queue",
        # '' and Volcano's 'default' (its job webhook fills in 'default' when unset) both end
        # in the team's queue: the namespace's queue annotation moves PodGroups left there
        f"variables.queue == '' || variables.queue == '{VOLCANO_DEFAULT_QUEUE}' || "
        f"variables.queue == {_param('queue')}",
        f"variables.queuePath + ': queue ' + variables.queue + ' is not the queue of ' + "
        f"{_team()} + ' (use ' + {_param('queue')} + ', or leave it unset: the namespace maps "
        "jobs to it)'",
        "the job's queue, when set, is the team's queue (or Volcano's `default`, which the "
        "namespace maps to it)",
        "`spec.runPolicy.schedulingPolicy.queue: queue <q> is not the queue of team <t> (use "
        "<t>, or leave it unset: the namespace maps jobs to it)`",
    ),
    Rule(
        "gang-size",
        "variables.minAvailable <= variables.total",
        "variables.minAvailablePath + ': a gang of ' + string(variables.minAvailable) + ' pods "
        "can never form: the job has ' + string(variables.total) + ' replicas in all'",
        "minAvailable is at most the job's replicas in all",
        "`spec.runPolicy.schedulingPolicy.minAvailable: a gang of <n> pods can never form: the "
        "job has <m> replicas in all`",
    ),
    Rule(
        "gang-pods",
        f"variables.gang <= int({_param('maxPods')})",
        f"(variables.minAvailable >= 0 ? variables.minAvailablePath : variables.replicasPath) + "
        "': a gang of "
        f"' + string(variables.gang) + ' pods exceeds the ' + {_param('maxPods')} + ' pods ' + "
        f"{_team()} + ' may run (ResourceQuota pods)'",
        "the gang (minAvailable, else all replicas) fits the quota's pods",
        "`spec.runPolicy.schedulingPolicy.minAvailable: a gang of <n> pods exceeds the <max> pods "
        "team <t> may run (ResourceQuota pods)`",
    ),
    Rule(
        "gang-gpus",
        f"variables.gpus <= double({_param('maxGpus')})",
        f"variables.replicasPath + ' x containers[*].resources.limits[{GPU_RESOURCE}]: the job "
        "requests ' + string(variables.gpus) + ' GPUs in all "
        f"but ' + {_team()} + ' can hold at most ' + {_param('maxGpus')} + ' (the smallest of its "
        "GPU quota, its queue capability and its GPU pools at maximum size): the gang would never "
        "be scheduled'",
        "all replicas' GPUs fit the team's quota, queue capability and GPU pools",
        "`spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.limits[nvidia.com/gpu]: "
        "the job requests <n> GPUs in all but team <t> can hold at most <max> (...)`",
    ),
    Rule(
        "gang-cpu",
        f"variables.cpu <= quantity({_param('maxCpu')}).asApproximateFloat()",
        "variables.replicasPath + ' x containers[*].resources.requests.cpu: the job requests ' + "
        "string(variables.cpu) + ' CPUs in all but ' + "
        f"{_team()} + ' can hold at most ' + {_param('maxCpu')} + ' (its quota and queue "
        "capability): the gang would never be scheduled'",
        "all replicas' CPU requests fit the team's quota and queue capability",
        "`spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.requests.cpu: the job "
        "requests <n> CPUs in all but team <t> can hold at most <max> (...)`",
    ),
    Rule(
        "gang-memory",
        f"variables.memory <= quantity({_param('maxMemory')}).asApproximateFloat()",
        "variables.replicasPath + ' x containers[*].resources.requests.memory: the job requests ' "
        f"+ {_gi('variables.memory')} + ' in all but ' + "
        f"{_team()} + ' can hold at most ' + {_param('maxMemory')} + ' (its quota and queue "
        "capability): the gang would never be scheduled'",
        "all replicas' memory requests fit the team's quota and queue capability",
        "`spec.pytorchReplicaSpecs[*].replicas x containers[*].resources.requests.memory: the "
        "job requests <n>Gi in all but team <t> can hold at most <max> (...)`",
    ),
    Rule(
        "gpus-per-replica",
        f"!{_known('maxGpusPerNode')} || !variables.replicas.exists(r, {_BAD_GPUS_PER_NODE})",
        f"{_first(_BAD_GPUS_PER_NODE)}.path + '{_TEMPLATE}.limits[{GPU_RESOURCE}]: a replica "
        f"requests ' + string({_first(_BAD_GPUS_PER_NODE)}.gpus) + ' GPUs but the largest node in "
        f"' + {_team()} + \"'s pools has \" + {_param('maxGpusPerNode')}",
        "a replica's GPUs fit on one node of the team's pools",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.containers[*].resources.limits"
        "[nvidia.com/gpu]: a replica requests <n> GPUs but the largest node in team <t>'s pools "
        "has <max>`",
    ),
    Rule(
        "cpu-per-replica",
        f"!{_known('maxCpuPerNode')} || !variables.replicas.exists(r, {_BAD_CPU_PER_NODE})",
        f"{_first(_BAD_CPU_PER_NODE)}.path + '{_TEMPLATE}.requests.cpu: a replica requests ' + "
        f"string({_first(_BAD_CPU_PER_NODE)}.cpu) + ' CPUs but the largest node in ' + {_team()}"
        f" + \"'s pools offers \" + {_param('maxCpuPerNode')} + ' (allocatable)'",
        "a replica's CPU requests fit one node's allocatable",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.containers[*].resources.requests.cpu: a "
        "replica requests <n> CPUs but the largest node in team <t>'s pools offers <max> "
        "(allocatable)`",
    ),
    Rule(
        "memory-per-replica",
        f"!{_known('maxMemoryPerNode')} || !variables.replicas.exists(r, {_BAD_MEMORY_PER_NODE})",
        f"{_first(_BAD_MEMORY_PER_NODE)}.path + '{_TEMPLATE}.requests.memory: a replica requests "
        f"' + {_gi(_first(_BAD_MEMORY_PER_NODE) + '.memory')} + ' but the largest node in ' + "
        f"{_team()} + \"'s pools offers \" + {_param('maxMemoryPerNode')} + ' (allocatable)'",
        "a replica's memory requests fit one node's allocatable",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.containers[*].resources.requests.memory: "
        "a replica requests <n>Gi but the largest node in team <t>'s pools offers <max> "
        "(allocatable)`",
    ),
    Rule(
        "gpu-toleration",
        f"!variables.replicas.exists(r, {_BAD_TOLERATION})",
        f"{_first(_BAD_TOLERATION)}.path + '.template.spec.tolerations: a replica requests GPUs "
        "but does not tolerate the GPU nodes\\' taint ' + "
        f"{_param('gpuTaintKey')} + '=' + {_param('gpuTaintValue')} + ':' + "
        f"{_param('gpuTaintEffect')} + ' (add {{key: ' + {_param('gpuTaintKey')} + "
        f"', operator: Exists, effect: ' + {_param('gpuTaintEffect')} + '}})'",
        "a replica requesting GPUs tolerates the GPU pools' taint",
        "`spec.pytorchReplicaSpecs.Worker.template.spec.tolerations: a replica requests GPUs but "
        "does not tolerate the GPU nodes' taint nvidia.com/gpu=present:NoSchedule (add ...)`",
    ),
    Rule(
        "node-pool",
        f"!variables.replicas.exists(r, {_BAD_POOL})",
        f"{_first(_BAD_POOL)}.path + '.template.spec.nodeSelector[{POOL_LABEL}]: pool ' + "
        f"{_first(_BAD_POOL)}.nodeSelector[{_POOL}] + ' is not one ' + {_team()} + ' may use "
        f"(pools: ' + {_param('pools')} + ')'",
        f"a node selector's `{POOL_LABEL}` names one of the team's pools",
        f"`spec.pytorchReplicaSpecs.Worker.template.spec.nodeSelector[{POOL_LABEL}]: pool <p> is "
        "not one team <t> may use (pools: ...)`",
    ),
    Rule(
        "gpu-type",
        f"!variables.replicas.exists(r, {_BAD_GPU_TYPE})",
        f"{_first(_BAD_GPU_TYPE)}.path + '.template.spec.nodeSelector[{GPU_TYPE_LABEL}]: GPU type "
        f"' + {_first(_BAD_GPU_TYPE)}.nodeSelector[{_GPU_TYPE}] + ' is in none of ' + {_team()} + "
        f"\"'s pools (GPU types: \" + {_param('gpuTypes')} + ')'",
        f"a node selector's `{GPU_TYPE_LABEL}` names a GPU type of the team's pools",
        f"`spec.pytorchReplicaSpecs.Worker.template.spec.nodeSelector[{GPU_TYPE_LABEL}]: GPU type "
        "<g> is in none of team <t>'s pools (GPU types: ...)`",
    ),
)


def policy_spec(limits: TrainingLimits) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy's ``spec`` for the team of ``limits`` (module docstring):
    the limits are the policy's first variable, so no params object is involved."""
    operations = ["CREATE", "UPDATE"]
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": ["kubeflow.org"],
                    "apiVersions": ["v1"],
                    "operations": operations,
                    "resources": _KUBEFLOW_RESOURCES,
                },
                {
                    "apiGroups": ["kubeflow.org"],
                    "apiVersions": ["v1"],
                    "operations": ["UPDATE"],
                    "resources": [f"{r}/scale" for r in SCALABLE],
                },
                {
                    "apiGroups": ["batch.volcano.sh"],
                    "apiVersions": ["v1alpha1"],
                    "operations": operations,
                    "resources": ["jobs"],
                },
                {
                    "apiGroups": ["batch"],
                    "apiVersions": ["v1"],
                    "operations": operations,
                    "resources": ["jobs"],
                },
            ]
        },
        "matchConditions": [
            {
                "name": "spec-created-or-changed",
                "expression": "request.operation == 'CREATE' || !has(object.spec) || "
                "!has(oldObject.spec) || object.spec != oldObject.spec",
            },
            {
                "name": "batch-jobs-labelled-as-training",
                "expression": f"object.apiVersion != 'batch/v1' || (has(object.metadata.labels) "
                f"&& '{MODEL_LABEL}' in object.metadata.labels)",
            },
        ],
        "variables": [
            {"name": name, "expression": cel}
            for name, cel in (("limits", limits_literal(limits)), *VARIABLES)
        ],
        "validations": [rule.validation() for rule in RULES],
    }


def binding_spec(team: str) -> dict[str, Any]:
    """The binding's ``spec``: the team's policy, Deny, in the team's namespace only."""
    return {
        "policyName": policy_name(team),
        "validationActions": ["Deny"],
        "matchResources": {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: team}},
        },
    }


def manifests(limits: TrainingLimits) -> list[dict[str, Any]]:
    """Limits ConfigMap, policy and binding of one team, in apply order."""
    name = policy_name(limits.team)
    api = "admissionregistration.k8s.io/v1"
    return [
        limits_configmap(limits),
        {
            "apiVersion": api,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": policy_spec(limits),
        },
        {
            "apiVersion": api,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": binding_spec(limits.team),
        },
    ]
