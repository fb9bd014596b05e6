"""Install a stack into a control plane as ``pulumi up`` would, and tell when its workloads run.

**Objects.** ``plan_stack`` starts from the offline render (``infra.render.render_stack``: the
program under Pulumi mocks). Objects the program declares directly and releases of our own charts
are already manifests there. The resources whose content lives upstream are expanded here from
the pinned, verified files (``infra.upstream.ensure``), with the declared inputs:

* ``kubernetes:helm.sh/v3:Release`` of an upstream chart (``infra.versions.ALL_CHARTS``, matched
  by chart name and version): ``helm template`` of ``.tools/upstream/charts/<name>-<version>.tgz``
  with the release ``name``, ``namespace`` and ``values``; the chart's ``crds/`` folder is
  included unless ``skipCrds`` (Helm 3 installs it on ``helm install``); ``createNamespace`` adds
  the Namespace. Hooks run as ``helm install`` runs them: ``pre-install`` hooks (by weight) before
  the release's objects, ``post-install`` hooks after; hooks of other events (upgrade, delete,
  rollback, test) are not part of an install and are dropped (all of them with
  ``disableWebhooks``, Pulumi's "prevent hooks from running").
* ``kubernetes:kustomize/v2:Directory``: ``kubectl kustomize`` of its ``directory`` (the pinned
  kubectl, ``infra.toolchain``); objects without a namespace go to its ``namespace`` input or
  ``default``.
* Cloud resources (EKS/GKE/ACK node pools, ...) make no Kubernetes objects: a platform stack's
  node pools become KWOK nodes (``infra.controlplane.nodes.stack_nodes``, plus CPU nodes), the
  cluster an ``existing`` platform brings as well. Every target cluster (kind, EKS, GKE, ACK)
  also brings a default storage provisioner; ``provision_volumes`` stands in for it by binding
  each Pending claim to a volume made for it (labelled ``kubeai.dev/stand-in``). Releases of
  cloud-side charts (``versions.REPOSITORY_CHARTS``: cluster-autoscaler, metrics-server,
  ``cloud_release``) are listed with them and not installed.

**Order.** The render lists resources in declaration order, which is a topological order of the
program's ``dependsOn`` (a resource can only depend on one declared before it); within one
release or directory, objects follow Helm's install order by kind. Namespaces, then
CustomResourceDefinitions, are hoisted before everything else (they depend on nothing in the
cluster, and Pulumi and Helm create them first too); custom resources are applied only once every
CRD of the plan reports ``Established``. A team stack is installed on top of its platform stack
(``plans_for`` returns both, platform first).

**Apply.** Server-side apply (field manager ``kubeai``) over the apiserver's REST API with httpx:
one ``PATCH`` per object with ``application/apply-patch+yaml``, resource paths from the
apiserver's own discovery. Chosen over ``kubectl apply --server-side`` because every rejection
comes back per object with its HTTP status and the apiserver's own message (kubectl stops
reporting at the first error of a batch and mixes messages into one stream), and no subprocess
or kubeconfig juggling is needed. Every rejection is collected (``InstallReport.rejections``);
nothing stops at the first one.

**Upstream admission webhooks.** Volcano's admission service, Fluid's pod webhook, the training
operator's validating webhook (and the GPU Operator's, where used) point at Services whose pods
KWOK only pretends to run: no server answers, so with ``failurePolicy: Fail`` every matching
request is refused (``failed calling webhook ...``). The installer therefore applies
``ValidatingWebhookConfiguration``/``MutatingWebhookConfiguration`` objects last, exactly as
declared (nothing in them is changed), and ``remove_webhooks`` deletes them again: callers that go
on to create workloads (team stacks on their platform, the workload checks) call it first. On a
real cluster the servers run and the configurations stay; this handling exists only because the
plane cannot run upstream servers, and it never alters the product's settings.

**Running.** ``wait_available`` polls until every Deployment, StatefulSet and DaemonSet of the
plans is Available (a DaemonSet: scheduled and ready on exactly the nodes its pod template
selects and tolerates, computed from the live nodes by ``runs_on``), and ``placement_problems``
checks where pods landed: a pod requesting ``nvidia.com/gpu`` only on a GPU node its selectors
and affinity match (its pool), no other pod of a Deployment/StatefulSet/Job on a GPU node
(DaemonSet pods are per-node agents and may run on every node they tolerate).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import yaml

from infra import toolchain, upstream
from infra.addons import REPO_ROOT
from infra.addons.kustomize import GENERATED_ROOT
from infra.config import GPU_RESOURCE, PlatformConfig, TeamConfig
from infra.controlplane.nodes import stack_nodes
from infra.render import helm_template, load_stack, render_stack
from infra.validate import DECLARED_API_VERSION
from infra.versions import ALL_CHARTS, KUBERNETES_VERSION, REPOSITORY_CHARTS, Chart

#: Field manager of every server-side apply.
FIELD_MANAGER = "kubeai"
KUBECTL_VERSION = "v1.34.5"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
KUSTOMIZE_DIRECTORY = "kubernetes:kustomize/v2:Directory"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
#: Helm 3's install order by kind (``pkg/releaseutil/kind_sorter.go``); other kinds come after.
HELM_KIND_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
#: libyaml's loader where PyYAML has it: upstream CRDs are megabytes of YAML, which the pure
#: Python loader takes minutes to read on a busy machine.
#: Label on the objects the installer makes in place of the cluster's own services.
STAND_IN_LABEL = "kubeai.dev/stand-in"
_LEADING_KINDS = ("Namespace", "CustomResourceDefinition")
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ESTABLISH_TIMEOUT_S = 180.0


class InstallError(RuntimeError):
    """A stack's objects could not be built (unknown chart or resource type, helm/kustomize
    failure); the message names the Pulumi resource."""


@dataclass(frozen=True)
class Manifest:
    """One object to apply: the manifest ``obj``, the Pulumi resource it comes from (``origin``,
    e.g. ``volcano-release``) and the namespace it goes to when it names none (``namespace``)."""

    obj: dict[str, Any]
    origin: str
    namespace: str = "default"

    @property
    def kind(self) -> str:
        """Its ``kind``."""
        return str(self.obj.get("kind", ""))

    @property
    def key(self) -> str:
        """``Kind namespace/name`` (``Kind name`` without a namespace), for messages."""
        meta = self.obj.get("metadata") or {}
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{self.kind} {where}{meta.get('name', '?')}"


@dataclass
class InstallPlan:
    """What installing one stack creates: KWOK ``nodes`` (platform stacks), ``objects`` in apply
    order, ``webhooks`` (admission webhook configurations, applied last) and the Pulumi types of
    ``cloud`` resources that make no Kubernetes object."""

    stack: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    objects: list[Manifest] = field(default_factory=list)
    webhooks: list[Manifest] = field(default_factory=list)
    cloud: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rejection:
    """An object the apiserver refused: which, the HTTP ``status`` (0: never sent) and why."""

    manifest: Manifest
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.manifest.key} (from {self.manifest.origin}): {self.status} {self.message}"


@dataclass
class InstallReport:
    """Result of ``Installer.install``: ``applied`` object keys, ``rejections``, seconds taken."""

    stack: str
    applied: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0


# -- expansion of declared resources --------------------------------------------------------------


def pinned_chart(name: str, version: str) -> Chart:
    """The pinned upstream chart ``name`` at ``version`` (a leading ``v`` ignored).

    ``name`` is a chart name (a Release from a repository or mirror) or a path whose file name is
    a pinned archive's, ``<name>-<version>.tgz`` (the program's default, ``chart_args``).
    Raises ``InstallError`` naming the pinned charts when there is none.
    """
    for chart in ALL_CHARTS:
        named = name in (chart.name, chart.archive.path) or (
            name.endswith(".tgz")
            and PurePosixPath(name).name == PurePosixPath(chart.archive.path).name
        )
        if named and chart.version.lstrip("v") == version.lstrip("v"):
            return chart
    known = ", ".join(f"{c.name} {c.version}" for c in ALL_CHARTS)
    raise InstallError(f"chart {name!r} version {version!r} is not pinned (pinned: {known})")


def _hook_events(obj: Mapping[str, Any]) -> list[str] | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get("helm.sh/hook")
    return None if raw is None else [e.strip() for e in str(raw).split(",")]


def _hook_weight(obj: Mapping[str, Any]) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return int(annotations.get("helm.sh/hook-weight", 0))
    except (TypeError, ValueError):
        return 0


def kind_rank(kind: str) -> int:
    """Position of ``kind`` in Helm's install order (unknown kinds after all known ones)."""
    return HELM_KIND_ORDER.index(kind) if kind in HELM_KIND_ORDER else len(HELM_KIND_ORDER)


def helm_install_order(
    docs: Iterable[dict[str, Any]], *, run_hooks: bool = True
) -> list[dict[str, Any]]:
    """The objects ``helm install`` creates, in its order: pre-install hooks (by weight, then
    kind), the release's objects (by kind), post-install hooks. Hooks of other events are
    dropped, and all hooks when not ``run_hooks``."""
    pre: list[dict[str, Any]] = []
    main: list[dict[str, Any]] = []
    post: list[dict[str, Any]] = []
    for doc in docs:
        events = _hook_events(doc)
        if events is None:
            main.append(doc)
        elif run_hooks and "pre-install" in events:
            pre.append(doc)
        elif run_hooks and "post-install" in events:
            post.append(doc)

    def hooks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda d: (_hook_weight(d), kind_rank(str(d.get("kind")))))

    return [*hooks(pre), *sorted(main, key=lambda d: kind_rank(str(d.get("kind")))), *hooks(post)]


def expand_release(
    origin: str, inputs: Mapping[str, Any], *, kube_version: str = KUBERNETES_VERSION
) -> list[Manifest]:
    """The objects of an upstream ``helm.v3.Release`` with declared ``inputs`` (see the module
    docstring). Raises ``InstallError`` for an unpinned chart or a helm failure."""
    chart = pinned_chart(str(inputs.get("chart", "")), str(inputs.get("version", "")))
    archive = upstream.ensure() / chart.archive.path
    release = str(inputs.get("name") or origin)
    namespace = str(inputs.get("namespace") or "default")
    try:
        docs = helm_template(
            archive,
            release=release,
            namespace=namespace,
            values=dict(inputs.get("values") or {}),
            kube_version=kube_version,
            include_crds=not inputs.get("skipCrds", False),
        )
    except RuntimeError as exc:
        raise InstallError(f"{origin}: {exc}") from exc
    ordered = helm_install_order(docs, run_hooks=not inputs.get("disableWebhooks", False))
    if inputs.get("createNamespace"):
        ordered.insert(
            0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    return [Manifest(doc, origin, namespace) for doc in ordered]


#: Where ``kustomize`` keeps each overlay's output (git-ignored): an overlay directory is
#: content-addressed over pinned, verified inputs, so its output only changes with kubectl.
KUSTOMIZED_ROOT = REPO_ROOT / ".kubeai" / "kustomized"


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """Objects of ``kubectl kustomize directory`` (pinned kubectl); ``InstallError`` on failure.

    The output of a generated overlay (``.kubeai/overlays/<name>-<digest>``) is kept under
    ``KUSTOMIZED_ROOT`` and reused (Argo's full CRDs take kubectl 5-15 s to build).
    """
    generated = directory.resolve().parent == GENERATED_ROOT.resolve()
    cached = KUSTOMIZED_ROOT / f"{directory.name}-kubectl-{KUBECTL_VERSION}.yaml"
    if generated and cached.is_file():
        text = cached.read_text()
    else:
        try:
            kubectl = toolchain.binary("kubectl", KUBECTL_VERSION)
        except (toolchain.FetchError, OSError) as exc:
            raise InstallError(f"cannot get kubectl {KUBECTL_VERSION}: {exc}") from None
        result = subprocess.run(
            [str(kubectl), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise InstallError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
        text = result.stdout
        if generated:
            KUSTOMIZED_ROOT.mkdir(parents=True, exist_ok=True)
            temp = cached.with_suffix(".tmp")
            temp.write_text(text)
            temp.replace(cached)
    return [d for d in yaml.load_all(text, Loader=YAML_LOADER) if isinstance(d, dict)]


def expand_directory(origin: str, inputs: Mapping[str, Any]) -> list[Manifest]:
    """The objects of a ``kustomize.v2.Directory`` (its ``directory`` relative to the repository
    when not absolute), in Helm's kind order. Raises ``InstallError``."""
    raw = inputs.get("directory")
    if not raw:
        raise InstallError(f"{origin}: kustomize Directory without a 'directory' input")
    directory = Path(str(raw))
    directory = directory if directory.is_absolute() else REPO_ROOT / directory
    namespace = str(inputs.get("namespace") or "default")
    docs = helm_install_order(kustomize(directory), run_hooks=False)
    return [Manifest(doc, origin, namespace) for doc in docs]


def cloud_release(inputs: Mapping[str, Any]) -> bool:
    """Whether a Release installs a cloud-side chart (``versions.REPOSITORY_CHARTS``: the
    cluster-autoscaler needs the cloud's API, metrics-server serves an aggregated API; neither
    can run on KWOK nodes), which the installer leaves out like other cloud resources."""
    chart = PurePosixPath(str(inputs.get("chart", ""))).name
    return chart in {c.name for c in REPOSITORY_CHARTS}


def expand_declared(
    doc: Mapping[str, Any], *, kube_version: str = KUBERNETES_VERSION
) -> list[Manifest]:
    """Objects of one rendered ``DeclaredResource`` (``[]`` for a cloud resource).

    Raises ``InstallError`` for a Kubernetes resource type this installer cannot expand.
    """
    pulumi_type = str(doc.get("pulumiType", ""))
    origin = str((doc.get("metadata") or {}).get("name", "?"))
    inputs = doc.get("inputs") or {}
    if pulumi_type == HELM_RELEASE:
        if cloud_release(inputs):
            return []
        return expand_release(origin, inputs, kube_version=kube_version)
    if pulumi_type == KUSTOMIZE_DIRECTORY:
        return expand_directory(origin, inputs)
    if pulumi_type.startswith("kubernetes:"):
        raise InstallError(f"{origin}: cannot install declared resource type {pulumi_type}")
    return []


# -- plans ---------------------------------------------------------------------------------------


def order(manifests: Sequence[Manifest]) -> tuple[list[Manifest], list[Manifest]]:
    """``(objects, webhooks)``: Namespaces, then CRDs, then the rest, each in the given order;
    admission webhook configurations split off (they are applied last)."""
    webhooks = [m for m in manifests if m.kind in WEBHOOK_KINDS]
    rest = [m for m in manifests if m.kind not in WEBHOOK_KINDS]

    def phase(m: Manifest) -> int:
        return {"Namespace": 0, "CustomResourceDefinition": 1}.get(m.kind, 2)

    return sorted(rest, key=phase), webhooks  # sorted() is stable


def plan_stack(
    stack: str,
    workdir: Path,
    *,
    stacks_dir: Path | None = None,
    kube_version: str = KUBERNETES_VERSION,
) -> InstallPlan:
    """The plan of ``stack`` alone (a team stack's platform is not included; see ``plans_for``).

    Renders into ``workdir/<stack>``. Raises ``ConfigError``/``RenderError`` from the render,
    ``UpstreamError`` when a pinned file is missing or fails verification, and ``InstallError``.
    """
    stacks_dir = stacks_dir or REPO_ROOT / "stacks"
    config, _, _ = load_stack(stack, stacks_dir)
    rendered = render_stack(
        stack, workdir / stack, stacks_dir=stacks_dir, kube_version=kube_version
    )
    plan = InstallPlan(stack=stack)
    if isinstance(config, PlatformConfig):
        plan.nodes = stack_nodes(config.node_pools)
    manifests: list[Manifest] = []
    files = list(dict.fromkeys(entry["file"] for entry in rendered.entries))
    by_file = {entry["file"]: entry["pulumiName"] for entry in rendered.entries}
    for name in files:
        for doc in yaml.load_all((rendered.out / name).read_text(), Loader=YAML_LOADER):
            if not isinstance(doc, dict):
                continue
            if doc.get("apiVersion") == DECLARED_API_VERSION:
                expanded = expand_declared(doc, kube_version=kube_version)
                pulumi_type = str(doc.get("pulumiType", ""))
                if not expanded and not pulumi_type.startswith("kubernetes:"):
                    plan.cloud.append(pulumi_type)
                elif pulumi_type == HELM_RELEASE and cloud_release(doc.get("inputs") or {}):
                    plan.cloud.append(f"{pulumi_type} {(doc.get('inputs') or {}).get('chart')}")
                manifests += expanded
            else:
                manifests.append(Manifest(doc, by_file[name]))
    plan.objects, plan.webhooks = order(manifests)
    return plan


def platform_of(stack: str, stacks_dir: Path) -> str:
    """The platform stack ``stack`` installs on: itself for a platform stack, else the last
    segment of its ``kubeai:platformStack``."""
    config, _, _ = load_stack(stack, stacks_dir)
    if isinstance(config, TeamConfig):
        return config.platform_stack.rsplit("/", 1)[-1]
    return stack


def plans_for(
    stack: str,
    workdir: Path,
    *,
    stacks_dir: Path | None = None,
    kube_version: str = KUBERNETES_VERSION,
) -> list[InstallPlan]:
    """Plans to install, in order: ``[platform]`` or ``[platform, team]`` for a team stack."""
    stacks_dir = stacks_dir or REPO_ROOT / "stacks"
    names = list(dict.fromkeys((platform_of(stack, stacks_dir), stack)))
    return [
        plan_stack(name, workdir, stacks_dir=stacks_dir, kube_version=kube_version)
        for name in names
    ]


# -- applying ------------------------------------------------------------------------------------


class RestMapper:
    """``(apiVersion, kind)`` → ``(resource, namespaced)`` from the apiserver's discovery, cached
    per group version and read again on a miss (a CRD just became Established)."""

    def __init__(self, api: httpx.Client) -> None:
        self._api = api
        self._cache: dict[str, dict[str, tuple[str, bool]]] = {}

    def _read(self, api_version: str) -> dict[str, tuple[str, bool]]:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        response = self._api.get(path)
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        return {
            r["kind"]: (r["name"], bool(r["namespaced"]))
            for r in response.json().get("resources", [])
            if "/" not in r["name"]
        }

    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """``(resource, namespaced)``; ``None`` when the API serves no such kind."""
        if kind not in self._cache.get(api_version, {}):
            self._cache[api_version] = self._read(api_version)
        return self._cache[api_version].get(kind)

    def path(self, obj: Mapping[str, Any], default_namespace: str) -> str | None:
        """The object's URL path (its namespace, or ``default_namespace`` when namespaced and
        unset); ``None`` when its kind is unknown to the apiserver."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        found = self.resource(api_version, kind)
        if found is None:
            return None
        resource, namespaced = found
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        name = (obj.get("metadata") or {}).get("name", "")
        if namespaced:
            namespace = (obj.get("metadata") or {}).get("namespace") or default_namespace
            return f"{prefix}/namespaces/{namespace}/{resource}/{name}"
        return f"{prefix}/{resource}/{name}"


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text.strip()


class Installer:
    """Applies plans through ``api`` (an admin ``httpx.Client`` on the apiserver, e.g.
    ``ControlPlane.client()``), ``parallel`` requests at a time where order does not matter;
    ``log`` gets one line per plan."""

    def __init__(
        self,
        api: httpx.Client,
        *,
        parallel: int = 4,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.api = api
        self.parallel = parallel
        self.mapper = RestMapper(api)
        self.log = log

    def apply(self, manifest: Manifest) -> Rejection | None:
        """Server-side apply one object; its ``Rejection``, or ``None`` when accepted."""
        path = self.mapper.path(manifest.obj, manifest.namespace)
        if path is None:
            api_version = manifest.obj.get("apiVersion")
            return Rejection(
                manifest, 0, f"the apiserver serves no {manifest.kind} in {api_version}"
            )
        response = self.api.patch(
            path,
            params={"fieldManager": FIELD_MANAGER},
            content=json.dumps(manifest.obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return (
            None
            if response.is_success
            else Rejection(manifest, response.status_code, _message(response))
        )

    def wait_established(
        self, names: Iterable[str], timeout: float = _ESTABLISH_TIMEOUT_S
    ) -> list[str]:
        """Wait until each CRD in ``names`` reports ``Established``; returns those that did not."""
        pending = set(names)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                response = self.api.get(
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                )
                conditions = (response.json().get("status") or {}).get("conditions") or []
                if response.is_success and any(
                    c.get("type") == "Established" and c.get("status") == "True" for c in conditions
                ):
                    pending.discard(name)
            if pending:
                time.sleep(0.2)
        return sorted(pending)

    def install(self, plan: InstallPlan, *, webhooks: bool = True) -> InstallReport:
        """Apply ``plan.objects`` in order, then, with ``webhooks``, ``plan.webhooks``.

        The leading Namespaces and CRDs depend on nothing and are applied concurrently
        (``parallel`` requests; Argo's CRDs are over 1 MB each), everything after them in
        sequence once every CRD reports ``Established``. Nodes are not created here
        (``ControlPlane.add_nodes``). Never raises for a refused object: see the report.
        """
        started = time.monotonic()
        report = InstallReport(stack=plan.stack)
        ordered = [*plan.objects, *(plan.webhooks if webhooks else [])]
        leading = 0
        while leading < len(ordered) and ordered[leading].kind in _LEADING_KINDS:
            leading += 1
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            first = list(pool.map(self.apply, ordered[:leading]))
        crds = [str(m.obj["metadata"]["name"]) for m in ordered[:leading] if m.kind != "Namespace"]
        for name in self.wait_established(crds):
            crd = next(m for m in ordered if m.obj["metadata"]["name"] == name)
            report.rejections.append(Rejection(crd, 0, "the CRD never became Established"))
        results = [*first, *(self.apply(m) for m in ordered[leading:])]
        for manifest, rejection in zip(ordered, results, strict=True):
            if rejection is None:
                report.applied.append(manifest.key)
            else:
                report.rejections.append(rejection)
        report.seconds = time.monotonic() - started
        self.log(
            f"{plan.stack}: {len(report.applied)} objects applied, "
            f"{len(report.rejections)} rejected in {report.seconds:.1f} s"
        )
        return report

    def remove_webhooks(self, plan: InstallPlan) -> list[str]:
        """Delete the plan's admission webhook configurations (module docstring); returns the
        keys deleted. Missing ones are skipped."""
        removed: list[str] = []
        for manifest in plan.webhooks:
            path = self.mapper.path(manifest.obj, manifest.namespace)
            if path is not None and self.api.delete(path).is_success:
                removed.append(manifest.key)
        return removed


# -- scheduling checks -----------------------------------------------------------------------------


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels:
        try:
            value, bound = int(labels[key]), int(values[0])
        except (ValueError, IndexError):
            return False
        return value > bound if operator == "Gt" else value < bound
    return False


def _tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        key = toleration.get("key", "")
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def runs_on(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether a pod with ``pod_spec`` may be placed on ``node`` by its ``nodeSelector``,
    required node affinity and tolerations of the node's NoSchedule/NoExecute taints (what the
    DaemonSet controller checks; resources are not)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if required and not any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
        for term in required
    ):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        _tolerates(tolerations, taint)
        for taint in (node.get("spec") or {}).get("taints") or []
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


def is_gpu_node(node: Mapping[str, Any]) -> bool:
    """Whether ``node`` has allocatable ``nvidia.com/gpu``."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return str(allocatable.get(GPU_RESOURCE, "0")) not in ("0", "")


def requests_gpu(pod_spec: Mapping[str, Any]) -> bool:
    """Whether any container of ``pod_spec`` requests or limits ``nvidia.com/gpu``."""
    for container in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            if str((resources.get(part) or {}).get(GPU_RESOURCE, "0")) != "0":
                return True
    return False


def placement_problems(
    pods: Iterable[Mapping[str, Any]], nodes: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Pods placed where they must not be: a GPU pod on a node without GPUs or outside the pool
    its selectors name, a non-DaemonSet pod without GPUs on a GPU node. One line per problem."""
    by_name = {n["metadata"]["name"]: n for n in nodes}
    problems: list[str] = []
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        node = by_name.get(spec.get("nodeName", ""))
        if node is None:
            continue
        where = f"pod {meta.get('namespace')}/{meta.get('name')} on {node['metadata']['name']}"
        owners = {o.get("kind") for o in meta.get("ownerReferences") or []}
        if requests_gpu(spec):
            if not is_gpu_node(node):
                problems.append(f"{where}: requests {GPU_RESOURCE} but the node has none")
            elif not runs_on(spec, node):
                problems.append(f"{where}: the node is outside the pool its selectors name")
        elif is_gpu_node(node) and "DaemonSet" not in owners:
            problems.append(f"{where}: a CPU workload on a GPU node")
    return problems


def _workload_path(manifest: Manifest) -> str:
    meta = manifest.obj.get("metadata") or {}
    namespace = meta.get("namespace") or manifest.namespace
    plural = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
    return f"/apis/apps/v1/namespaces/{namespace}/{plural[manifest.kind]}/{meta.get('name')}"


def workload_problem(obj: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a live Deployment/StatefulSet/DaemonSet ``obj`` is not Available yet (``None`` when it
    is); a DaemonSet must be ready on exactly the ``nodes`` its pod template selects."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return "not observed by its controller yet"
    conditions = [
        f"{c.get('type')}={c.get('status')}: {c.get('message', '')}".strip()
        for c in status.get("conditions") or []
        if c.get("status") != "True" or c.get("type") == "ReplicaFailure"
    ]
    detail = f" ({'; '.join(conditions)})" if conditions else ""
    if obj.get("kind") == "DaemonSet":
        template = (spec.get("template") or {}).get("spec") or {}
        wanted = sum(1 for node in nodes if runs_on(template, node))
        counts = [
            status.get(k, 0) for k in ("desiredNumberScheduled", "numberReady", "numberAvailable")
        ]
        if counts != [wanted] * 3:
            return f"desired/ready/available {counts}, want {wanted} (matching nodes){detail}"
        return None
    replicas = spec.get("replicas", 1)
    counts = [status.get(k, 0) for k in ("readyReplicas", "availableReplicas", "updatedReplicas")]
    if counts != [replicas] * 3:
        return f"ready/available/updated {counts} of {replicas}{detail}"
    return None


def workloads(plans: Iterable[InstallPlan]) -> list[Manifest]:
    """The Deployments, StatefulSets and DaemonSets of ``plans``."""
    return [
        m
        for plan in plans
        for m in plan.objects
        if m.kind in WORKLOAD_KINDS and m.obj.get("apiVersion") == "apps/v1"
    ]


def provision_volumes(api: httpx.Client) -> list[str]:
    """Stand in for the cluster's default storage provisioner: bind every Pending
    PersistentVolumeClaim to a new PersistentVolume made for it (its class, access modes, volume
    mode and requested size; ``hostPath`` that nothing mounts, since KWOK pods are not processes).
    Returns the names of the volumes created.
    """
    created: list[str] = []
    for claim in api.get("/api/v1/persistentvolumeclaims").json()["items"]:
        meta, spec = claim["metadata"], claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        name = f"pvc-{meta['uid']}"
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {STAND_IN_LABEL: "provisioner"}},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "storageClassName": spec.get("storageClassName") or "",
                "persistentVolumeReclaimPolicy": "Delete",
                "claimRef": {
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "hostPath": {"path": f"/var/lib/kwok/volumes/{name}"},
            },
        }
        if api.post("/api/v1/persistentvolumes", json=volume).is_success:
            created.append(name)
    return created


def wait_available(
    api: httpx.Client,
    plans: Iterable[InstallPlan],
    *,
    timeout: float = 120.0,
    refused_for: float = 15.0,
) -> dict[str, str]:
    """Poll until every workload of ``plans`` is Available (``workload_problem``), binding new
    claims on the way (``provision_volumes``); returns ``{workload key: why not}`` for those
    still not Available after ``timeout`` s (empty: all are). Returns early once every workload
    still missing reports ``ReplicaFailure`` (its pods refused by admission) for ``refused_for`` s
    in a row: waiting longer cannot change a refusal."""
    items = workloads(plans)
    deadline = time.monotonic() + timeout
    refused_since: float | None = None
    while True:
        provision_volumes(api)
        nodes = api.get("/api/v1/nodes").json()["items"]
        problems: dict[str, str] = {}
        for manifest in items:
            response = api.get(_workload_path(manifest))
            if not response.is_success:
                problems[manifest.key] = f"{response.status_code} {_message(response)}"
            elif (problem := workload_problem(response.json(), nodes)) is not None:
                problems[manifest.key] = problem
        now = time.monotonic()
        refused = bool(problems) and all("ReplicaFailure=True" in p for p in problems.values())
        refused_since = (refused_since or now) if refused else None
        if (
            not problems
            or now >= deadline
            or (refused_since and now - refused_since >= refused_for)
        ):
            return problems
        time.sleep(0.5)
