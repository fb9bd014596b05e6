"""The team stack: one team's tenancy in its platform's cluster (``TeamTenancy``).

Per team (``kubeai:team.name`` = namespace = Volcano Queue name):

* Namespace with the platform's team label (``<teamLabel>: <team>``), Pod Security labels
  (``enforce``/``audit``/``warn`` = ``kubeai:team.podSecurity``) and the annotation
  ``scheduling.volcano.sh/queue-name: <team>`` (Volcano's ``/podgroups/mutate`` admission moves
  PodGroups left in queue ``default`` into it).
* Volcano ``Queue`` (cluster-scoped, ``scheduling.volcano.sh/v1beta1``; field names from
  the pinned upstream CRD ``crds/volcano/v1.15.1/scheduling.volcano.sh_queues.yaml``):
  ``weight``, ``capability``,
  ``deserved``, ``guarantee.resource``, ``reclaimable``, ``priority``, as the platform's queue
  plugin reads them (``queue_manifest``). Platform teams run every stack, so a team stack may
  create its cluster-scoped Queue.
* ``ResourceQuota`` (``requests.cpu``, ``requests.memory``, ``requests.nvidia.com/gpu``, ``pods``,
  ``requests.storage``, ``persistentvolumeclaims``) and a ``LimitRange`` (container defaults, so
  pods without requests still pass the quota).
* RBAC, namespaced only: Roles ``kubeai-admin``, ``kubeai-member``, ``kubeai-viewer`` bound to the
  team's groups (``kubeai:team.groups``): training jobs (kubeflow.org pytorchjobs, tfjobs,
  xgboostjobs), Argo workflows, Fluid datasets and dataloads, their pods, logs and services, read
  on events; nothing cluster-wide.
* ServiceAccounts ``kubeai-training`` (training pods; no API rights, no token; its cloud identity
  and annotations from ``kubeai:serviceAccounts.training``, the team's ``kubeai:imagePullSecrets``;
  an RRSA identity also labels the team Namespace ``pod-identity.alibabacloud.com/injection: on``,
  ``infra.config.identity``) and
  ``kubeai-workflow`` (Argo workflow pods; identity and annotations from
  ``kubeai:serviceAccounts.workflow``) with the executor Role (``workflowtaskresults`` create
  and patch, as the emissary executor of Argo >= 3.4 needs, plus creating the training jobs
  (kubeflow.org pytorchjobs, tfjobs, xgboostjobs, mpijobs) and data loads a pipeline step
  submits, and listing events: ``wait-version`` reads the lifecycle controller's outcome on
  its job).
* Argo's per-namespace default artifact repository (ConfigMap ``artifact-repositories``) in the
  platform object store under ``argo/<team>/``; with static keys
  (``kubeai:artifactStoreAccessKeyId``/``SecretAccessKey`` in the team stack) the Secret
  ``kubeai-artifact-store`` it references.
* Fluid datasets, split over two namespaces (design below): in the cache namespace
  ``kubeai-cache-<team>`` (``kubeai:datasetCache``) the Dataset with its mounts and the runtime of
  the configured kind (same name; field names from the pinned upstream CRDs
  ``crds/fluid/v1.0.8``), with the GPU toleration so cache workers may sit on GPU nodes; in the
  team namespace a Dataset of the same name whose one mount is ``dataset://<cache ns>/<name>``.
  Both carry ``pvc.fluid.io/resources.requests.storage: <size>`` so Fluid's PVCs ask for the
  dataset's size, not its 100Pi default. Mount ``options`` and ``encryptOptions`` go on the cached
  Dataset; Fluid resolves ``encryptOptions`` Secrets in that Dataset's namespace, where teams have
  no rights, so the team stack creates ``kubeai-dataset-credentials`` there from the Pulumi secrets
  ``kubeai:datasetAccessKeyId``/``datasetAccessKeySecret`` when a mount references it (any other
  Secret name must be created there by the platform team). Every runtime container gets explicit
  requests and limits (``DatasetRuntime.containers``).
* NetworkPolicies (``infra.network_policy``): default-deny ingress in the team and cache
  namespaces, with explicit allows (the team's own pods, serving clients to Triton, Prometheus).
* Inference services: one release of ``charts/triton-inference`` each (``infra.addons.triton``;
  ServiceAccount identity from ``inferenceServices[].serviceAccount`` or
  ``kubeai:serviceAccounts.serving``, pull secrets, the checksum of the static-key Secret),
  its tritonserver and serving-agent containers with explicit requests and limits
  (``InferenceServiceConfig.triton_resources``, ``AGENT_RESOURCES``), so the LimitRange's
  defaults never put a limit under a request.
  Pulumi owns a service's infrastructure; the registry owns which model versions it serves, so
  nothing here writes model assignments and ``pulumi up`` never undoes a promotion.
* The model-iteration pipeline (``kubeai:pipelines``, ``infra.pipelines``): the Argo
  WorkflowTemplate ``model-iteration`` and one CronWorkflow per retraining schedule, run as
  ``kubeai-workflow`` (``glue.pipelines.templates``).

Where Fluid's cache pods run (the design, and why): Fluid creates a runtime's pods (master,
cache workers with a hostPath cache, privileged FUSE containers with ``/dev/fuse`` and
``SYS_ADMIN``) in the namespace of the Dataset the runtime binds. Team namespaces enforce Pod
Security ``baseline`` or ``restricted``, which refuse both, and making them privileged would let
every team pod run privileged. Fluid v1.0.8 supports datasets shared across namespaces: a Dataset
whose single mount is ``dataset://<namespace>/<name>`` references a bound Dataset elsewhere; the
dataset controller binds it with a ThinRuntime it creates itself and gives it a PV/PVC in the
referencing namespace served by the referenced runtime's FUSE pods through Fluid's CSI plugin
(no pod in the referencing namespace). So each team gets its own cache namespace,
``kubeai-cache-<team>``, labelled Pod Security ``privileged``, holding only the real Dataset and
runtime; the team has no RoleBinding there (it cannot start pods in it), it carries the team's
LimitRange, and deleting the team stack removes it. Team pods keep mounting PVC ``<name>`` in
their own namespace. ``infra.config.fit`` refuses, at config time, any dataset whose runtime
pods would land in a namespace whose Pod Security level forbids them. The privileged
namespace is per team rather than one shared cache namespace so a team's caches are bounded,
accounted and removed with the team.

Ordering: every resource that needs the platform (labels, chart values) consumes the platform
outputs *after* the cross-stack checks (``check_platform``); every custom resource depends on the
Namespace, which itself consumes the checked outputs, so a failed check (or a platform stack
without Volcano/Fluid, whose add-ons install the CRDs) stops the update before any object exists.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from glue.pipelines.training_job import JOB_KINDS
from infra import network_policy
from infra.addons import (
    ADDON_TIMEOUT_S,
    GPU_TIMEOUT_S,
    namespace_manifest_labels,
    release_settings,
    repo_path,
)
from infra.addons import triton as triton_addon
from infra.addons.argo import (
    ARTIFACT_REPOSITORIES_CONFIGMAP,
    WORKFLOW_SERVICE_ACCOUNT,
    artifact_repositories_configmap,
)
from infra.addons.artifact_store import (
    ARTIFACT_SECRET,
    CHECKSUM_NAME,
    KEY_SECRETS,
    artifact_store_secret,
    key_checksum,
    opaque_secret,
    static_keys,
)
from infra.addons.namespace_ownership import owner_annotation
from infra.config import (
    AGENT_RESOURCES,
    GPU_TOLERATION,
    NAMESPACE,
    ConfigError,
    DatasetConfig,
    InferenceServiceConfig,
    PlatformOutputs,
    QueuePolicy,
    TeamConfig,
)
from infra.config.identity import RRSA_INJECTION_LABEL, RRSA_INJECTION_ON
from infra.config.team import DATASET_SECRET, DATASET_SECRET_KEYS
from infra.pipelines import pipeline_manifests
from infra.policies import training as training_policy

QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"
#: Queues Volcano v1.15.1's scheduler creates at start (``pkg/scheduler/cache/cache.go``
#: ``newDefaultAndRootQueue``) and its webhook never lets anyone delete.
VOLCANO_QUEUES = ("default", "root")
#: Dataset annotation Fluid sizes a dataset's PVC from (default 100Pi without it).
PVC_SIZE_ANNOTATION = "pvc.fluid.io/resources.requests.storage"
#: Label of a team's cache namespace naming the team (not the platform team label: the
#: controllers watching team namespaces must not treat it as one).
CACHE_FOR_LABEL = "kubeai.dev/cache-for"
TRAINING_SERVICE_ACCOUNT = "kubeai-training"
EXECUTOR_ROLE = "kubeai-workflow-executor"

#: Fluid runtime kinds by ``kubeai:datasets[].runtime.kind``.
RUNTIME_KINDS = {
    "alluxio": "AlluxioRuntime",
    "juicefs": "JuiceFSRuntime",
    "jindo": "JindoRuntime",
    "thin": "ThinRuntime",
}
FLUID_API = "data.fluid.io/v1alpha1"
VOLCANO_API = "scheduling.volcano.sh/v1beta1"

_READ = ["get", "list", "watch"]
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
_JOBS = ["pytorchjobs", "tfjobs", "xgboostjobs"]
_WORKFLOWS = ["workflows", "workflowtemplates", "cronworkflows"]
_DATA = ["datasets", "dataloads"]


def check_platform(config: TeamConfig, platform: PlatformOutputs) -> None:
    """All cross-stack checks of a team stack; raises ``ConfigError`` listing every problem.

    ``TeamConfig.check_against_platform`` (GPU quota vs the pools' capacity, Fluid for datasets,
    Queue keys the platform's queue plugin never reads (``Queue.policy_problems``), every replica
    vs the platform's nodes: ``infra.config.fit.placement_problems``) plus: the platform must run
    Volcano (the team's Queue and gang scheduling need it), and the team's Queue must not be one
    Volcano owns (``VOLCANO_QUEUES``).
    """
    problems: list[tuple[str, str]] = []
    try:
        config.check_against_platform(platform)
    except ConfigError as error:
        problems.extend(error.problems)
    if not platform.volcano_enabled:
        problems.append(
            (
                f"{NAMESPACE}:queue",
                f"Volcano is disabled on platform stack {config.platform_stack!r}: the team's "
                "Queue (scheduling.volcano.sh) cannot be created",
            )
        )
    if config.team.name in VOLCANO_QUEUES:
        problems.append(
            (
                f"{NAMESPACE}:team.name",
                f"{config.team.name!r} is a Queue Volcano's scheduler creates for itself; the "
                "team's Queue is named after the team and would take it over (and Volcano's "
                "queue webhook refuses to delete it): choose another name",
            )
        )
    if problems:
        raise ConfigError(problems)


# ---------------------------------------------------------------------------------------------
# manifests (pure; unit-tested and validated against the CRD schemas)


def namespace_metadata(config: TeamConfig, team_label: str) -> dict[str, Any]:
    """``metadata`` of the team Namespace."""
    team = config.team.name
    labels = {team_label: team, "app.kubernetes.io/part-of": "kubeai"}
    if config.service_accounts.training.pod_labels():
        # RRSA on ACK: training pods are made by users and pipelines, not by us, so the
        # webhook's switch goes on the namespace (it injects only where the pod's account
        # names a RAM role; infra.config.identity).
        labels[RRSA_INJECTION_LABEL] = RRSA_INJECTION_ON
    return {
        "name": team,
        "labels": namespace_manifest_labels(config.team.pod_security, labels),
        "annotations": {QUEUE_ANNOTATION: team, **owner_annotation()},
    }


def cache_namespace_metadata(config: TeamConfig) -> dict[str, Any]:
    """``metadata`` of the team's Fluid cache Namespace (Pod Security ``datasetCache.podSecurity``,
    ``privileged`` by default)."""
    return {
        "name": config.cache_namespace,
        "labels": namespace_manifest_labels(
            config.dataset_cache.pod_security,
            {CACHE_FOR_LABEL: config.team.name, "app.kubernetes.io/part-of": "kubeai"},
        ),
        "annotations": owner_annotation(),
    }


def admission_manifests(config: TeamConfig, team_label: str) -> list[dict[str, Any]]:
    """The objects that decide admission in the team's namespaces, as manifests: the team
    Namespace, its ResourceQuota and LimitRange, and with datasets the cache Namespace and its
    LimitRange (``kubeai-team`` each). Pure: the cluster tests apply exactly these."""
    team = config.team.name
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": namespace_metadata(config, team_label),
        }
    ]
    namespaces = [team]
    if config.datasets:
        out.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": cache_namespace_metadata(config)}
        )
        namespaces.append(config.cache_namespace)
    out.append(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "kubeai-team", "namespace": team},
            "spec": resource_quota_spec(config),
        }
    )
    out += [
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "kubeai-team", "namespace": namespace},
            "spec": limit_range_spec(config),
        }
        for namespace in namespaces
    ]
    return out


def queue_manifest(
    config: TeamConfig, team_label: str, policy: QueuePolicy = "proportion"
) -> dict[str, Any]:
    """The team's Volcano ``Queue`` (cluster-scoped) for the platform's queue plugin ``policy``.

    ``kubeai:queue`` keys as they are, except under ``proportion`` with a ``guarantee``: Volcano's
    queue webhook (v1.15.1 ``validateResourceQuantityOfQueue``) refuses a guarantee without a
    ``deserved`` at least as large per resource, and ``proportion`` never reads ``deserved``
    (config refuses it there, ``Queue.policy_problems``), so ``deserved`` is rendered equal to the
    guarantee: admitted, and without effect on scheduling.
    """
    queue = config.queue
    spec: dict[str, Any] = {
        "weight": queue.weight,
        "capability": queue.capability.as_resource_list(),
        "reclaimable": queue.reclaimable,
        "priority": queue.priority,
    }
    deserved = queue.deserved
    if policy == "proportion" and deserved is None:
        deserved = queue.guarantee
    if deserved is not None:
        spec["deserved"] = deserved.as_resource_list()
    if queue.guarantee is not None:
        spec["guarantee"] = {"resource": queue.guarantee.as_resource_list()}
    return {
        "apiVersion": VOLCANO_API,
        "kind": "Queue",
        "metadata": {"name": config.team.name, "labels": {team_label: config.team.name}},
        "spec": spec,
    }


def resource_quota_spec(config: TeamConfig) -> dict[str, Any]:
    """``spec`` of the namespace ResourceQuota (requests; GPUs as ``requests.nvidia.com/gpu``)."""
    quota = config.quota
    return {
        "hard": {
            "requests.cpu": quota.cpu,
            "requests.memory": quota.memory,
            "requests.nvidia.com/gpu": str(quota.gpus),
            "pods": str(quota.pods),
            "requests.storage": quota.storage,
            "persistentvolumeclaims": str(quota.persistent_volume_claims),
        }
    }


def limit_range_spec(config: TeamConfig) -> dict[str, Any]:
    """``spec`` of the namespace LimitRange (per-container defaults and maximum)."""
    limits = config.limit_range
    item: dict[str, Any] = {
        "type": "Container",
        "defaultRequest": limits.default_request.as_resource_list(),
        "default": limits.default_limit.as_resource_list(),
    }
    if limits.max is not None:
        item["max"] = limits.max.as_resource_list()
    if limits.min is not None:
        item["min"] = limits.min.as_resource_list()
    return {"limits": [item]}


def role_rules() -> dict[str, list[dict[str, Any]]]:
    """Rules of the team Roles by role (``admin``, ``member``, ``viewer``)."""
    viewer = [
        {
            "apiGroups": ["kubeflow.org"],
            "resources": [*_JOBS, *(f"{r}/status" for r in _JOBS)],
            "verbs": _READ,
        },
        {"apiGroups": ["argoproj.io"], "resources": _WORKFLOWS, "verbs": _READ},
        {"apiGroups": ["data.fluid.io"], "resources": _DATA, "verbs": _READ},
        {"apiGroups": ["scheduling.volcano.sh"], "resources": ["podgroups"], "verbs": _READ},
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "pods/log",
                "services",
                "events",
                "persistentvolumeclaims",
                "configmaps",
            ],
            "verbs": _READ,
        },
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    ]
    member = [
        {"apiGroups": ["kubeflow.org"], "resources": _JOBS, "verbs": _WRITE},
        {
            "apiGroups": ["kubeflow.org"],
            "resources": [f"{r}/status" for r in _JOBS],
            "verbs": _READ,
        },
        {"apiGroups": ["argoproj.io"], "resources": _WORKFLOWS, "verbs": _WRITE},
        {"apiGroups": ["data.fluid.io"], "resources": _DATA, "verbs": _WRITE},
        {"apiGroups": ["scheduling.volcano.sh"], "resources": ["podgroups"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["pods"], "verbs": [*_READ, "delete"]},
        {
            "apiGroups": [""],
            "resources": ["pods/log", "services", "events", "persistentvolumeclaims", "configmaps"],
            "verbs": _READ,
        },
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _READ},
    ]
    admin = [
        *member,
        {
            "apiGroups": [""],
            "resources": ["configmaps", "secrets", "persistentvolumeclaims"],
            "verbs": _WRITE,
        },
        {
            "apiGroups": [""],
            "resources": ["pods/exec", "pods/portforward"],
            "verbs": ["get", "create"],
        },
    ]
    return {"admin": admin, "member": member, "viewer": viewer}


#: Training job resources a pipeline creates (``glue.pipelines.training_job.JOB_KINDS``).
_PIPELINE_JOBS = [f"{kind.lower()}s" for kind in JOB_KINDS]


def executor_rules() -> list[dict[str, Any]]:
    """Rules of the Argo workflow executor Role (``kubeai-workflow``): what the resource steps
    create and poll, plus ``list`` on core events (``wait-version`` reads the lifecycle
    controller's RegistrationFailed/TrainingFailed Event of its job; it reads the job's
    outcome annotation with ``get``)."""
    return [
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtaskresults"],
            "verbs": ["create", "patch"],
        },
        {"apiGroups": ["kubeflow.org"], "resources": _PIPELINE_JOBS, "verbs": _WRITE},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
        {
            "apiGroups": ["data.fluid.io"],
            "resources": ["dataloads"],
            "verbs": ["get", "list", "watch", "create", "delete"],
        },
        {"apiGroups": ["data.fluid.io"], "resources": ["datasets"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": _READ},
    ]


def role_subjects(groups: list[str]) -> list[dict[str, str]]:
    """RoleBinding ``subjects`` for identity-provider groups."""
    return [{"kind": "Group", "name": g, "apiGroup": "rbac.authorization.k8s.io"} for g in groups]


def _dataset(dataset: DatasetConfig, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A Fluid ``Dataset`` named after ``dataset`` in ``namespace``: its PVC size annotation,
    access mode and ``spec``."""
    read_only = all(m.read_only for m in dataset.mounts)
    return {
        "apiVersion": FLUID_API,
        "kind": "Dataset",
        "metadata": {
            "name": dataset.name,
            "namespace": namespace,
            "annotations": {PVC_SIZE_ANNOTATION: dataset.size},
        },
        "spec": {**spec, "accessModes": ["ReadOnlyMany" if read_only else "ReadWriteMany"]},
    }


def dataset_manifest(dataset: DatasetConfig, namespace: str) -> dict[str, Any]:
    """The Fluid ``Dataset`` the runtime binds (in the cache namespace): its mounts (with their
    ``options`` and ``encryptOptions``, whose Secrets live in that namespace), access mode, PVC
    size annotation and the GPU toleration for cache workers."""
    mounts: list[dict[str, Any]] = []
    for m in dataset.mounts:
        mount: dict[str, Any] = {
            "name": m.name,
            "mountPoint": m.mount_point,
            "readOnly": m.read_only,
        }
        if m.options:
            mount["options"] = dict(m.options)
        if m.encrypt_options:
            mount["encryptOptions"] = [
                o.model_dump(by_alias=True, exclude_none=True) for o in m.encrypt_options
            ]
        mounts.append(mount)
    return _dataset(
        dataset, namespace, {"mounts": mounts, "tolerations": [GPU_TOLERATION.manifest()]}
    )


def reference_dataset_manifest(
    dataset: DatasetConfig, namespace: str, cache_namespace: str
) -> dict[str, Any]:
    """The team's ``Dataset`` referencing the cached one (``dataset://<cache ns>/<name>``).

    Fluid binds it itself (a ThinRuntime of the same name) and gives it PVC ``<name>`` in
    ``namespace``; no runtime pod runs in ``namespace``.
    """
    mount = {
        "name": dataset.name,
        "mountPoint": f"dataset://{cache_namespace}/{dataset.name}",
        "path": "/",
    }
    return _dataset(dataset, namespace, {"mounts": [mount]})


def runtime_manifest(dataset: DatasetConfig, namespace: str) -> dict[str, Any]:
    """The Fluid runtime binding ``dataset`` (same name): replicas, one tiered-store level and
    explicit resources of every component (``spec.<component>.resources``)."""
    runtime = dataset.runtime
    components = {
        component: {"resources": container.manifest()}
        for component, container in runtime.containers().items()
    }
    return {
        "apiVersion": FLUID_API,
        "kind": RUNTIME_KINDS[runtime.kind],
        "metadata": {"name": dataset.name, "namespace": namespace},
        "spec": {
            **components,
            "replicas": runtime.replicas,
            "tieredstore": {
                "levels": [
                    {
                        "mediumtype": runtime.medium,
                        "path": runtime.cache_path,
                        "quota": runtime.cache_quota,
                        "high": "0.95",
                        "low": "0.7",
                    }
                ]
            },
        },
    }


def service_values(
    defaults: triton_addon.TritonDefaults,
    *,
    service: InferenceServiceConfig,
    config: TeamConfig,
    artifact_secret: str | None,
    checksums: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Chart values of one inference service of the team: ``inference_service_values`` with the
    containers' requests and limits set explicitly (``InferenceServiceConfig.triton_resources``
    under the team LimitRange, ``AGENT_RESOURCES``), ``gpuType`` as a node selector, the
    service's ServiceAccount settings (``TeamConfig.serving_account``), the team's image pull
    secrets and ``checksums`` (sha256 of the Secrets its pods read, by name)."""
    values = triton_addon.inference_service_values(
        service,
        defaults,
        team=config.team.name,
        artifact_secret=artifact_secret,
        service_account=config.serving_account(service),
        pull_secrets=config.image_pull_secrets,
        checksums=checksums,
    )
    values["tritonserver"]["resources"] = service.triton_resources(config.limit_range).manifest()
    values["agent"]["resources"] = AGENT_RESOURCES.manifest()
    values["nodeSelector"] = service.node_selector_with_gpu_type
    return values


def _service_values_of(
    resolved: list[Any],
    *,
    service: InferenceServiceConfig,
    config: TeamConfig,
    artifact_secret: str | None,
) -> dict[str, Any]:
    """``service_values`` of ``[TritonDefaults, checksums by name]`` (an ``Output.all``)."""
    defaults, checksums = resolved
    return service_values(
        defaults,
        service=service,
        config=config,
        artifact_secret=artifact_secret,
        checksums=dict(checksums),
    )


def object_meta(metadata: dict[str, Any]) -> k8s.meta.v1.ObjectMetaArgs:
    """``ObjectMetaArgs`` from a manifest's ``metadata`` (name, namespace, labels, annotations)."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=metadata.get("name"),
        namespace=metadata.get("namespace"),
        labels=metadata.get("labels"),
        annotations=metadata.get("annotations"),
    )


def policy_rules(rules: list[dict[str, Any]]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """``PolicyRuleArgs`` from manifest rules (``apiGroups``, ``resources``, ``verbs``)."""
    return [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]
        )
        for r in rules
    ]


# ---------------------------------------------------------------------------------------------
# component


@dataclass(frozen=True)
class TeamTenancyArgs:
    """Inputs of ``TeamTenancy``.

    ``platform``: the platform stack's outputs, already checked (``check_platform``) inside the
    Output; ``secrets``: the team stack's Pulumi secrets by key (``nvcrApiKey``,
    ``artifactStoreAccessKeyId``, ``artifactStoreSecretAccessKey``).
    """

    config: TeamConfig
    platform: pulumi.Output[PlatformOutputs]
    secrets: dict[str, pulumi.Output[str]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ValueError`` for half-given object-store keys or a non-Output platform."""
        if not isinstance(self.platform, pulumi.Output):
            raise ValueError("platform must be a pulumi.Output[PlatformOutputs]")
        keys = set(KEY_SECRETS) & set(self.secrets)
        if len(keys) == 1:
            raise ValueError(
                "set both kubeai:artifactStoreAccessKeyId and kubeai:artifactStoreSecretAccessKey"
                f" (only {keys.pop()} is set)"
            )
        dataset_keys = set(DATASET_SECRET_KEYS) & set(self.secrets)
        if len(dataset_keys) == 1:
            raise ValueError(
                "set both kubeai:datasetAccessKeyId and kubeai:datasetAccessKeySecret"
                f" (only {dataset_keys.pop()} is set)"
            )
        missing = sorted(set(self.config.dataset_secrets) - set(self.secrets))
        if missing:
            raise ValueError(
                f"datasets' encryptOptions reference {DATASET_SECRET}, which is created from the "
                f"Pulumi secrets {', '.join(f'{NAMESPACE}:{k}' for k in DATASET_SECRET_KEYS)}; "
                f"set {', '.join(f'{NAMESPACE}:{k}' for k in missing)} with "
                "`pulumi config set --secret`"
            )


class TeamTenancy(pulumi.ComponentResource):
    """Everything one team gets (module docstring), in dependency order.

    The constructor runs one step per concern: ``_namespace``, ``_queue``, ``_quota``,
    ``create_rbac``, ``_artifact_repository``, ``_datasets``, ``_services``, ``_pipelines``.

    Attributes: ``namespace``, ``queue_name``, ``service_names`` (inference services),
    ``dataset_names`` and the resources ``namespace_resource``, ``queue``, ``datasets`` (the team
    namespace's referencing Datasets), ``cached_datasets`` and ``runtimes`` (in the cache
    namespace), ``services`` (Releases by service name), ``network_policies`` (by namespace and
    policy name), ``workflow_template`` and ``cron_workflows`` (by name).
    """

    namespace: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    service_names: pulumi.Output[list[str]]
    dataset_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: TeamTenancyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:tenancy:TeamTenancy", name, None, opts)
        self._prefix = name
        self._config = args.config
        self._platform = args.platform
        self._namespace()
        self._queue()
        self._quota()
        create_rbac(name, self._config, self.namespace, parent=self)
        self._training_guardrails()
        artifact_secret = self._artifact_repository(args.secrets)
        self._datasets(args.secrets)
        namespaces = [self.namespace_resource, self.cache_namespace_resource]
        self.network_policies = network_policy.create_team_policies(
            name, self._config, self._platform, namespaces=[n for n in namespaces if n], parent=self
        )
        self._services(artifact_secret, args.secrets.get("nvcrApiKey"))
        self._pipelines()
        config = self._config
        self.queue_name = pulumi.Output.from_input(config.team.name)
        self.service_names = pulumi.Output.from_input([s.name for s in config.inference_services])
        self.dataset_names = pulumi.Output.from_input([d.name for d in config.datasets])
        self.register_outputs(
            {
                "namespace": self.namespace,
                "queueName": self.queue_name,
                "serviceNames": self.service_names,
                "datasetNames": self.dataset_names,
            }
        )

    def _training_guardrails(self) -> None:
        """The limits ConfigMap ``kubeai-training-limits`` (read by ``kubeai train submit``), the
        ValidatingAdmissionPolicy carrying the same limits and its binding, which refuse training
        jobs the team's queue, quota and pools can never run (``infra.policies.training``)."""
        config = self._config
        team = config.team.name
        limits = self._platform.apply(lambda p: training_policy.training_limits(config, p))
        params = k8s.core.v1.ConfigMap(
            f"{self._prefix}-training-limits",
            metadata=object_meta(training_policy.limits_metadata(team)),
            data=limits.apply(lambda given: given.data()),
            opts=self._after_namespace(),
        )
        name = training_policy.policy_name(team)
        self.training_policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{self._prefix}-training-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
            spec=limits.apply(training_policy.policy_spec),
            opts=self._after_namespace(),
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{self._prefix}-training-policy-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
            spec=training_policy.binding_spec(team),
            opts=self._after_namespace(self.training_policy, params),
        )

    def _after_namespace(self, *more: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options of a child that needs the team Namespace (and ``more``) to exist first."""
        return pulumi.ResourceOptions(parent=self, depends_on=[self.namespace_resource, *more])

    def _namespace(self) -> None:
        """The team Namespace; it consumes the checked platform outputs (its labels), so a
        failed cross-stack check stops everything that depends on it."""
        config = self._config
        metadata = self._platform.apply(
            lambda p: object_meta(namespace_metadata(config, p.team_label))
        )
        self.namespace_resource = k8s.core.v1.Namespace(
            f"{self._prefix}-namespace", metadata=metadata, opts=pulumi.ResourceOptions(parent=self)
        )
        self.namespace = self.namespace_resource.metadata.name

    def _queue(self) -> None:
        """The team's Volcano Queue (cluster-scoped)."""
        config = self._config
        queue = self._platform.apply(lambda p: queue_manifest(config, p.team_label, p.queue_policy))
        self.queue = k8s.apiextensions.CustomResource(
            f"{self._prefix}-queue",
            api_version=VOLCANO_API,
            kind="Queue",
            metadata=queue.apply(lambda q: object_meta(q["metadata"])),
            spec=queue["spec"],
            opts=self._after_namespace(),
        )

    def _quota(self) -> None:
        """The namespace ResourceQuota and LimitRange."""
        child = pulumi.ResourceOptions(parent=self)
        k8s.core.v1.ResourceQuota(
            f"{self._prefix}-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="kubeai-team", namespace=self.namespace),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=resource_quota_spec(self._config)["hard"]),
            opts=child,
        )
        self._limit_range(f"{self._prefix}-limits", self.namespace, child)

    def _limit_range(
        self, resource_name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.LimitRange:
        """The team LimitRange ``kubeai-team`` in ``namespace``."""
        return k8s.core.v1.LimitRange(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name="kubeai-team", namespace=namespace),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type=item["type"],
                        default=item.get("default"),
                        default_request=item.get("defaultRequest"),
                        max=item.get("max"),
                        min=item.get("min"),
                    )
                    for item in limit_range_spec(self._config)["limits"]
                ]
            ),
            opts=opts,
        )

    def _artifact_repository(
        self, secrets: dict[str, pulumi.Output[str]]
    ) -> k8s.core.v1.Secret | None:
        """Argo's default artifact repository ConfigMap and, with static keys, the
        ``kubeai-artifact-store`` Secret, which is returned (None without static keys)."""
        keys = static_keys(secrets)
        self._artifact_keys = keys
        secret = None
        if keys is not None:
            secret = artifact_store_secret(
                f"{self._prefix}-artifact-store", self.namespace, keys, parent=self
            )
        team = self._config.team.name
        repositories = self._platform.apply(
            lambda p: artifact_repositories_configmap(
                p.artifact_store, team=team, static_credentials=keys is not None
            )
        )
        k8s.core.v1.ConfigMap(
            f"{self._prefix}-artifact-repositories",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ARTIFACT_REPOSITORIES_CONFIGMAP,
                namespace=self.namespace,
                annotations=repositories["annotations"],
            ),
            data=repositories["data"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret

    def _custom(
        self, resource_name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=object_meta(manifest["metadata"]),
            spec=manifest["spec"],
            opts=opts,
        )

    def _datasets(self, secrets: dict[str, pulumi.Output[str]]) -> None:
        """With datasets, the cache Namespace (+ its LimitRange and, with the Pulumi secrets
        ``kubeai:datasetAccessKeyId``/``datasetAccessKeySecret``, the Secret
        ``kubeai-dataset-credentials`` that mounts' ``encryptOptions`` reference); per dataset
        the cached Dataset and its runtime there, then the team's Dataset referencing it (module
        docstring)."""
        config = self._config
        team = config.team.name
        self.datasets: dict[str, k8s.apiextensions.CustomResource] = {}
        self.cached_datasets: dict[str, k8s.apiextensions.CustomResource] = {}
        self.runtimes: dict[str, k8s.apiextensions.CustomResource] = {}
        self.cache_namespace_resource: k8s.core.v1.Namespace | None = None
        if not config.datasets:
            return
        cache_ns = self.cache_namespace_resource = k8s.core.v1.Namespace(
            f"{self._prefix}-cache-namespace",
            metadata=object_meta(cache_namespace_metadata(config)),
            opts=self._after_namespace(),
        )
        limits = self._limit_range(
            f"{self._prefix}-cache-limits",
            cache_ns.metadata.name,
            pulumi.ResourceOptions(parent=self, depends_on=[cache_ns]),
        )
        cache = config.cache_namespace
        before: list[pulumi.Resource] = [cache_ns, limits]
        if config.dataset_secrets and all(key in secrets for key in DATASET_SECRET_KEYS):
            before.append(
                opaque_secret(
                    f"{self._prefix}-dataset-credentials",
                    DATASET_SECRET,
                    cache_ns.metadata.name,
                    {key: secrets[secret] for secret, key in DATASET_SECRET_KEYS.items()},
                    pulumi.ResourceOptions(parent=self, depends_on=[cache_ns]),
                )
            )
        for dataset in config.datasets:
            cached = self._custom(
                f"{self._prefix}-cache-dataset-{dataset.name}",
                dataset_manifest(dataset, cache),
                self._after_namespace(*before),
            )
            self.cached_datasets[dataset.name] = cached
            self.runtimes[dataset.name] = self._custom(
                f"{self._prefix}-runtime-{dataset.name}",
                runtime_manifest(dataset, cache),
                self._after_namespace(cache_ns, limits, cached),
            )
            self.datasets[dataset.name] = self._custom(
                f"{self._prefix}-dataset-{dataset.name}",
                reference_dataset_manifest(dataset, team, cache),
                self._after_namespace(cached),
            )

    def _services(
        self, artifact_secret: k8s.core.v1.Secret | None, nvcr_api_key: pulumi.Output[str] | None
    ) -> None:
        """The serving defaults (+ pull secret) and one triton-inference release per service,
        each after the Namespace and the Secrets it uses (static object-store keys, pull key)."""
        config = self._config
        serving = triton_addon.TritonServing(
            f"{self._prefix}-serving",
            triton_addon.TritonServingArgs(
                platform=self._platform, namespace=self.namespace, nvcr_api_key=nvcr_api_key
            ),
            opts=self._after_namespace(),
        )
        service_deps: list[pulumi.Resource] = []
        if artifact_secret is not None:
            service_deps.append(artifact_secret)
        if serving.pull_secret is not None:
            service_deps.append(serving.pull_secret)
        secret_name = ARTIFACT_SECRET if artifact_secret is not None else None
        checksums: dict[str, pulumi.Output[str]] = {}
        if self._artifact_keys is not None:
            checksums[CHECKSUM_NAME] = key_checksum(self._artifact_keys)
        sums = pulumi.Output.all(**checksums) if checksums else pulumi.Output.from_input({})
        self.services: dict[str, k8s.helm.v3.Release] = {}
        for service in config.inference_services:
            values = pulumi.Output.all(serving.defaults, sums).apply(
                functools.partial(
                    _service_values_of, service=service, config=config, artifact_secret=secret_name
                )
            )
            self.services[service.name] = k8s.helm.v3.Release(
                f"{self._prefix}-service-{service.name}",
                name=service.name,
                chart=repo_path(*triton_addon.CHART),
                namespace=self.namespace,
                values=values,
                **release_settings(GPU_TIMEOUT_S if service.gpus else ADDON_TIMEOUT_S),
                opts=self._after_namespace(*service_deps),
            )

    def _pipelines(self) -> None:
        """The WorkflowTemplate ``model-iteration`` and the retraining CronWorkflows of
        ``kubeai:pipelines`` (``infra.pipelines``; none with ``modelIteration: false``), after
        the Namespace: ``workflow_template`` (or None) and ``cron_workflows`` by name."""
        config = self._config
        self.workflow_template: k8s.apiextensions.CustomResource | None = None
        self.cron_workflows: dict[str, k8s.apiextensions.CustomResource] = {}
        if not config.pipelines.model_iteration:
            return
        manifests = self._platform.apply(lambda p: pipeline_manifests(config, p))
        names = ["template", *(f"cron-{r.name}" for r in config.pipelines.retraining)]
        for index, name in enumerate(names):
            manifest = manifests.apply(operator.itemgetter(index))
            resource = k8s.apiextensions.CustomResource(
                f"{self._prefix}-pipeline-{name}",
                api_version="argoproj.io/v1alpha1",
                kind="WorkflowTemplate" if index == 0 else "CronWorkflow",
                metadata=manifest.apply(lambda m: object_meta(m["metadata"])),
                spec=manifest.apply(lambda m: m["spec"]),
                opts=self._after_namespace(),
            )
            if index == 0:
                self.workflow_template = resource
            else:
                self.cron_workflows[config.pipelines.retraining[index - 1].name] = resource


def create_rbac(
    name: str, config: TeamConfig, namespace: pulumi.Input[str], *, parent: pulumi.Resource
) -> None:
    """Team Roles + RoleBindings (only for roles with groups), the training and workflow
    ServiceAccounts and the executor Role/RoleBinding, as children of ``parent``."""
    child = pulumi.ResourceOptions(parent=parent)
    groups = {
        "admin": config.team.groups.admins,
        "member": config.team.groups.members,
        "viewer": config.team.groups.viewers,
    }
    rbac_group = "rbac.authorization.k8s.io"
    for role, rules in role_rules().items():
        role_name = f"kubeai-{role}"
        k8s.rbac.v1.Role(
            f"{name}-role-{role}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=role_name, namespace=namespace),
            rules=policy_rules(rules),
            opts=child,
        )
        if groups[role]:
            k8s.rbac.v1.RoleBinding(
                f"{name}-binding-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=role_name, namespace=namespace),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group=rbac_group, kind="Role", name=role_name),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(kind=s["kind"], name=s["name"], api_group=s["apiGroup"])
                    for s in role_subjects(groups[role])
                ],
                opts=child,
            )
    training = config.service_accounts.training
    pull_secrets = [
        k8s.core.v1.LocalObjectReferenceArgs(name=n) for n in config.image_pull_secrets
    ] or None
    k8s.core.v1.ServiceAccount(
        f"{name}-sa-training",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=TRAINING_SERVICE_ACCOUNT,
            namespace=namespace,
            annotations=training.all_annotations() or None,
        ),
        automount_service_account_token=False,
        image_pull_secrets=pull_secrets,
        opts=child,
    )
    k8s.core.v1.ServiceAccount(
        f"{name}-sa-workflow",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=WORKFLOW_SERVICE_ACCOUNT,
            namespace=namespace,
            annotations=config.service_accounts.workflow.all_annotations() or None,
        ),
        image_pull_secrets=pull_secrets,
        opts=child,
    )
    k8s.rbac.v1.Role(
        f"{name}-role-executor",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=EXECUTOR_ROLE, namespace=namespace),
        rules=policy_rules(executor_rules()),
        opts=child,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-binding-executor",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=EXECUTOR_ROLE, namespace=namespace),
        role_ref=k8s.rbac.v1.RoleRefArgs(api_group=rbac_group, kind="Role", name=EXECUTOR_ROLE),
        subjects=[
            k8s.rbac.v1.SubjectArgs(
                kind="ServiceAccount", name=WORKFLOW_SERVICE_ACCOUNT, namespace=namespace
            )
        ],
        opts=child,
    )
