"""Argo Workflows: full CRDs from the pinned release, then the argo-helm chart without CRDs.

Facts from ../shared/UPSTREAM.md section 5 (argoproj/argo-workflows v4.1.2, argoproj/argo-helm
``charts/argo-workflows``):

* CRDs: the full schemas of ``manifests/base/crds/full/`` at tag ``versions.ARGO_CRDS`` are
  applied by the program (``yaml.v2.ConfigGroup`` over ``versions.ARGO_CRD_FILES``; they need
  server-side apply, the Kubernetes provider's default) from ``kubeai:addons.argo.crdsBaseUrl``
  (a mirror of raw.githubusercontent.com works), never by the chart's CRD job (it downloads them
  at install time and needs egress). The ConfigGroup is a retained CRD installer and the Release
  depends on it.
* Chart ``versions.ARGO_WORKFLOWS`` with ``crds.install: false``.

Which namespaces the controller serves (decision): Argo Workflows has exactly two modes, cluster
scope (all namespaces) or one managed namespace (``--managed-namespace``); it has no namespace
label selector (an allowlist is still an open request, argoproj/argo-workflows#16980). So the
controller runs cluster-scoped and team namespaces are selected by their label through what
exists only there:

* ``controller.workflowNamespaces: []`` and ``workflow.serviceAccount.create/rbac.create: false``:
  the chart creates no workflow ServiceAccount or RBAC anywhere;
* each team stack creates, in its namespace (labelled ``<teamLabel>=<team>``), the executor
  ServiceAccount ``kubeai-workflow`` with the RBAC the emissary executor needs;
* ``controller.workflowDefaults.spec.serviceAccountName: kubeai-workflow``: a workflow that names
  no account runs as that one, so outside team namespaces its pods cannot even be created.

Artifact repository: the platform object store (``kubeai:artifactStore``; a bucket override in
``kubeai:addons.argo.artifactRepository``). S3-compatible stores (s3, oss, minio) use
``artifactRepository.s3`` with keys ``<keyPrefix>/<namespace>/<workflow>/<pod>``; GCS uses
``artifactRepository.gcs`` (Workload Identity; no key format because newer charts pass the gcs
block through ``tpl``, which would try to evaluate Argo's ``{{...}}`` placeholders). Static keys
(``kubeai:artifactStoreAccessKeyId``/``SecretAccessKey``) switch on ``useStaticCredentials`` with
the Secret ``kubeai-artifact-store``, which Argo reads from each workflow's namespace: team stacks
create it there. Each team namespace also gets its own default repository ConfigMap
(``artifact_repositories_configmap``), which takes precedence over the controller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.addons import chart_args, check_dns_label, crd_installer_options, create_namespace
from infra.addons.artifact_store import (
    ARTIFACT_SECRET,
    ARTIFACT_SECRET_ACCESS_KEY,
    ARTIFACT_SECRET_SECRET_KEY,
)
from infra.config import ArgoAddon, ArtifactStore

#: ServiceAccount every team namespace provides for workflow pods (created by team stacks).
WORKFLOW_SERVICE_ACCOUNT = "kubeai-workflow"
#: Per-namespace default artifact repository (docs/artifact-repository-ref.md).
ARTIFACT_REPOSITORIES_CONFIGMAP = "artifact-repositories"
ARTIFACT_REPOSITORIES_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
ARTIFACT_REPOSITORIES_KEY = "default-v1"


def crd_urls(base_url: str) -> list[str]:
    """URLs of the full CRDs at the pinned release (``<base>/<tag>/manifests/base/crds/full/``)."""
    base = base_url.rstrip("/")
    tag = versions.ARGO_CRDS.version
    return [f"{base}/{tag}/manifests/base/crds/full/{file}" for file in versions.ARGO_CRD_FILES]


def s3_endpoint(store: ArtifactStore) -> tuple[str, bool]:
    """Argo's ``endpoint`` (host[:port], no scheme) and ``insecure`` flag for an S3-like store.

    AWS S3 without endpoint: ``s3.<region>.amazonaws.com``.
    """
    url = store.endpoint_url
    if url:
        parts = urlsplit(url)
        return parts.netloc, parts.scheme == "http"
    region = store.region
    return (f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com"), False


def artifact_repository(
    store: ArtifactStore,
    *,
    bucket: str | None = None,
    key_format: str | None = None,
    static_credentials: bool = False,
) -> dict[str, Any]:
    """An Argo ``ArtifactRepository`` (``{"s3": {...}}`` or ``{"gcs": {...}}``) for ``store``.

    ``bucket`` overrides the store's bucket; ``key_format`` is Argo's key template;
    ``static_credentials`` references the ``kubeai-artifact-store`` Secret instead of the SDK's
    credential chain (IRSA, RRSA, instance roles).
    """
    target = bucket or store.bucket
    if store.kind == "gcs":
        gcs: dict[str, Any] = {"bucket": target}
        if key_format:
            gcs["keyFormat"] = key_format
        return {"gcs": gcs}
    endpoint, insecure = s3_endpoint(store)
    s3: dict[str, Any] = {"bucket": target, "endpoint": endpoint, "insecure": insecure}
    if store.region:
        s3["region"] = store.region
    if key_format:
        s3["keyFormat"] = key_format
    if static_credentials:
        s3["accessKeySecret"] = {"name": ARTIFACT_SECRET, "key": ARTIFACT_SECRET_ACCESS_KEY}
        s3["secretKeySecret"] = {"name": ARTIFACT_SECRET, "key": ARTIFACT_SECRET_SECRET_KEY}
    else:
        s3["useSDKCreds"] = True
    return {"s3": s3}


def argo_values(
    config: ArgoAddon, store: ArtifactStore, *, static_credentials: bool
) -> dict[str, Any]:
    """Values of the ``argo-workflows`` chart (keys and reasons in the module docstring)."""
    repository_config = config.artifact_repository
    prefix = repository_config.key_prefix.strip("/") if repository_config else "argo"
    bucket = repository_config.bucket if repository_config else None
    key_format = None
    if store.kind != "gcs":
        key_format = "/".join(
            p for p in (prefix, "{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}") if p
        )
    repository = artifact_repository(
        store, bucket=bucket, key_format=key_format, static_credentials=static_credentials
    )
    return {
        "crds": {"install": False},
        "singleNamespace": False,
        "controller": {
            "workflowNamespaces": [],
            "workflowDefaults": {"spec": {"serviceAccountName": WORKFLOW_SERVICE_ACCOUNT}},
        },
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "useDefaultArtifactRepo": True,
        "useStaticCredentials": static_credentials and "s3" in repository,
        "artifactRepository": repository,
    }


def artifact_repositories_configmap(
    store: ArtifactStore, *, team: str, static_credentials: bool
) -> dict[str, Any]:
    """``data`` and ``annotations`` of a team's ``artifact-repositories`` ConfigMap.

    Keys go under ``argo/<team>/<workflow>/<pod>`` in the platform bucket. Returns
    ``{"annotations": {...}, "data": {"default-v1": <YAML>}}``.
    """
    import yaml

    repository = artifact_repository(
        store,
        key_format=f"argo/{team}/{{{{workflow.name}}}}/{{{{pod.name}}}}",
        static_credentials=static_credentials,
    )
    return {
        "annotations": {ARTIFACT_REPOSITORIES_ANNOTATION: ARTIFACT_REPOSITORIES_KEY},
        "data": {ARTIFACT_REPOSITORIES_KEY: yaml.safe_dump(repository, sort_keys=True)},
    }


@dataclass(frozen=True)
class ArgoWorkflowsArgs:
    """Inputs of ``ArgoWorkflows``.

    ``artifact_store`` is the platform store (``kubeai:artifactStore``); ``static_credentials``
    whether the stack has static keys.
    """

    config: ArgoAddon
    artifact_store: ArtifactStore
    static_credentials: bool = False
    namespace: str = "argo"

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on, a bad namespace or CRD base URL."""
        if not self.config.enabled:
            raise ValueError("Argo Workflows is disabled (kubeai:addons.argo.enabled)")
        check_dns_label(self.namespace, "Argo namespace")
        if not self.config.crds_base_url.startswith(("https://", "http://")):
            raise ValueError(
                "kubeai:addons.argo.crdsBaseUrl must be an http(s) URL, got "
                f"{self.config.crds_base_url!r}"
            )


class ArgoWorkflows(pulumi.ComponentResource):
    """Argo Workflows: Namespace, the retained full CRDs, and the Release that depends on them.

    Attributes: ``namespace``, ``release_name``, ``crd_urls`` (the files applied),
    ``workflow_service_account`` and the resources ``crds`` and ``release``.
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str]
    crd_urls: pulumi.Output[list[str]]
    workflow_service_account: pulumi.Output[str]

    def __init__(
        self, name: str, args: ArgoWorkflowsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:ArgoWorkflows", name, None, opts)
        ns = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="baseline"
        )
        urls = crd_urls(args.config.crds_base_url)
        self.crds = k8s.yaml.v2.ConfigGroup(
            f"{name}-crds", files=urls, opts=crd_installer_options(self)
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="argo-workflows",
            namespace=ns.metadata.name,
            values=argo_values(
                args.config, args.artifact_store, static_credentials=args.static_credentials
            ),
            skip_crds=True,
            max_history=10,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crds]),
            **chart_args(versions.ARGO_WORKFLOWS, args.config.chart),
        )
        self.namespace = ns.metadata.name
        self.release_name = self.release.name.apply(lambda n: n or "argo-workflows")
        self.crd_urls = pulumi.Output.from_input(urls)
        self.workflow_service_account = pulumi.Output.from_input(WORKFLOW_SERVICE_ACCOUNT)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "releaseName": self.release_name,
                "crdUrls": self.crd_urls,
                "workflowServiceAccount": self.workflow_service_account,
            }
        )
