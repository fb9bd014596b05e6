"""Argo Workflows from its own release manifests at the pinned tag, through a kustomize overlay.

Facts from argoproj/argo-workflows v4.1.2 (``versions.ARGO_WORKFLOWS``, commit 16a52d67):

* Install: ``manifests/cluster-install`` (the tree the release's ``install.yaml`` is built from):
  the full CRDs, the workflow controller and the Argo server with their RBAC, so the controller
  and the CRDs come from one tag. The files are the pinned, sha256-verified copies below the
  upstream root (``infra.upstream``; ``$KUBEAI_UPSTREAM_MIRROR`` serves air-gapped machines). The
  manifests name ``:latest`` images; like the release build, our overlay pins them to the tag
  (``versions.ARGO_IMAGES``) and passes ``--executor-image`` (``versions.ARGO_EXECUTOR_IMAGE``);
  with ``kubeai:images`` all three come from the mirror (kustomize ``newName``, the flag's
  value through ``infra.images.mirrored``), the Deployments get ``imagePullSecrets`` and the
  workflows the same as their defaults.
  The overlay installs the CRDs, so its Directory is a retained CRD installer.
* Namespace: the manifests target ``argo``; our overlay sets the configured namespace and, with
  kustomize's NamespaceTransformer (``setRoleBindingSubjects: allServiceAccounts``), the subjects
  of the cluster-wide bindings, so another namespace keeps working RBAC.
* Controller configuration: the ConfigMap ``workflow-controller-configmap`` (empty upstream) gets
  ``workflowDefaults`` and ``artifactRepository`` (``controller_config``).

Which namespaces the controller serves (decision): Argo Workflows has exactly two modes, cluster
scope (all namespaces) or one managed namespace (``--managed-namespace``); it has no namespace
label selector (an allowlist is still an open request, argoproj/argo-workflows#16980). So the
controller runs cluster-scoped (as ``cluster-install`` does) and team namespaces are selected by
their label through what exists only there:

* no workflow ServiceAccount or RBAC is created outside team namespaces;
* each team stack creates, in its namespace (labelled ``<teamLabel>=<team>``), the executor
  ServiceAccount ``kubeai-workflow`` with the RBAC the emissary executor needs;
* ``workflowDefaults.spec.serviceAccountName: kubeai-workflow``: a workflow that names no account
  runs as that one, so outside team namespaces its pods cannot even be created.

Artifact repository: the platform object store (``kubeai:artifactStore``; a bucket override in
``kubeai:addons.argo.artifactRepository``). S3-compatible stores (s3, oss, minio) use
``artifactRepository.s3`` with keys ``<keyPrefix>/<namespace>/<workflow>/<pod>``; GCS uses
``artifactRepository.gcs`` (Workload Identity). Static keys
(``kubeai:artifactStoreAccessKeyId``/``SecretAccessKey``) reference the Secret
``kubeai-artifact-store``, which Argo reads from each workflow's namespace: team stacks create it
there. Each team namespace also gets its own default repository ConfigMap
(``artifact_repositories_configmap``), which takes precedence over the controller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
import yaml

from infra import versions
from infra.addons import check_dns_label, crd_installer_options, create_namespace
from infra.addons.artifact_store import (
    ARTIFACT_SECRET,
    ARTIFACT_SECRET_ACCESS_KEY,
    ARTIFACT_SECRET_SECRET_KEY,
)
from infra.addons.kustomize import Directory, upstream_resource, write_overlay
from infra.config import ArgoAddon, ArtifactStore, ImageSettings
from infra.images import kustomize_images, mirrored, pull_secret_list, pull_secret_patch

#: ServiceAccount every team namespace provides for workflow pods (created by team stacks).
WORKFLOW_SERVICE_ACCOUNT = "kubeai-workflow"
#: Per-namespace default artifact repository (docs/artifact-repository-ref.md).
ARTIFACT_REPOSITORIES_CONFIGMAP = "artifact-repositories"
ARTIFACT_REPOSITORIES_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"
ARTIFACT_REPOSITORIES_KEY = "default-v1"


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


def controller_config(
    config: ArgoAddon,
    store: ArtifactStore,
    *,
    static_credentials: bool,
    images: ImageSettings | None = None,
) -> dict[str, str]:
    """``data`` of ``workflow-controller-configmap``: ``workflowDefaults`` and
    ``artifactRepository``, each a YAML document (reasons in the module docstring).
    ``kubeai:images.pullSecrets`` become the workflows' default ``imagePullSecrets`` (the
    executor image runs in every workflow pod)."""
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
    spec: dict[str, Any] = {"serviceAccountName": WORKFLOW_SERVICE_ACCOUNT}
    if images is not None and images.pull_secrets:
        spec["imagePullSecrets"] = pull_secret_list(images.pull_secrets, "objects")
    defaults = {"spec": spec}
    return {
        "workflowDefaults": yaml.safe_dump(defaults, sort_keys=True),
        "artifactRepository": yaml.safe_dump(repository, sort_keys=True),
    }


def overlay_files(
    namespace: str, data: dict[str, str], images: ImageSettings | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Our overlay over ``cluster-install``: the kustomization and its files (name → text).

    ``images`` (``kubeai:images``): the controller, server and executor images from the mirror
    and the Deployments' ``imagePullSecrets``."""
    settings = images or ImageSettings()
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap"},
        "data": data,
    }
    controller = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "workflow-controller"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "workflow-controller",
                            "args": [
                                "--executor-image",
                                mirrored(versions.ARGO_EXECUTOR_IMAGE, settings.registry),
                            ],
                        }
                    ]
                }
            }
        },
    }
    transformer = {
        "apiVersion": "builtin",
        "kind": "NamespaceTransformer",
        "metadata": {"name": "kubeai-argo-namespace", "namespace": namespace},
        "setRoleBindingSubjects": "allServiceAccounts",
        "unsetOnly": False,
    }
    entries = [{"name": name, "newTag": tag} for name, tag in sorted(versions.ARGO_IMAGES.items())]
    for mirror in kustomize_images([e["name"] for e in entries], settings):
        next(e for e in entries if e["name"] == mirror["name"]).update(mirror)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [upstream_resource(versions.ARGO_WORKFLOWS.manifests, versions.ARGO_OVERLAY)],
        "transformers": ["namespace.yaml"],
        "images": entries,
        "patches": [{"path": "controller-configmap.yaml"}, {"path": "controller-deployment.yaml"}],
    }
    files = {
        "namespace.yaml": yaml.safe_dump(transformer, sort_keys=False),
        "controller-configmap.yaml": yaml.safe_dump(configmap, sort_keys=False),
        "controller-deployment.yaml": yaml.safe_dump(controller, sort_keys=False),
    }
    if secret_patch := pull_secret_patch(settings):
        kustomization["patches"].append(secret_patch[0])
        files[secret_patch[0]["path"]] = secret_patch[1]
    return kustomization, files


def overlay_directory(
    namespace: str, data: dict[str, str], images: ImageSettings | None = None
) -> str:
    """The generated overlay directory (``.kubeai/overlays/argo-workflows-*``) to apply.

    Raises ``infra.upstream.UpstreamError`` when the pinned manifests cannot be had.
    """
    kustomization, files = overlay_files(namespace, data, images)
    return write_overlay("argo-workflows", kustomization, files)


def artifact_repositories_configmap(
    store: ArtifactStore, *, team: str, static_credentials: bool
) -> dict[str, Any]:
    """``data`` and ``annotations`` of a team's ``artifact-repositories`` ConfigMap.

    Keys go under ``argo/<team>/<workflow>/<pod>`` in the platform bucket. Returns
    ``{"annotations": {...}, "data": {"default-v1": <YAML>}}``.
    """
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
    images: ImageSettings = field(default_factory=ImageSettings)

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on or a bad namespace."""
        if not self.config.enabled:
            raise ValueError("Argo Workflows is disabled (kubeai:addons.argo.enabled)")
        check_dns_label(self.namespace, "Argo namespace")


class ArgoWorkflows(pulumi.ComponentResource):
    """Argo Workflows: its Namespace (Pod Security ``baseline``), then the release manifests.

    Attributes: ``namespace``, ``directory`` (the overlay applied), ``workflow_service_account``
    and the resources ``namespace_resource`` and ``manifests`` (the retained kustomize Directory).
    """

    namespace: pulumi.Output[str]
    directory: pulumi.Output[str]
    workflow_service_account: pulumi.Output[str]

    def __init__(
        self, name: str, args: ArgoWorkflowsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:ArgoWorkflows", name, None, opts)
        self.namespace_resource = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="baseline"
        )
        data = controller_config(
            args.config,
            args.artifact_store,
            static_credentials=args.static_credentials,
            images=args.images,
        )
        directory = overlay_directory(args.namespace, data, args.images)
        self.manifests = Directory(
            f"{name}-manifests",
            directory=directory,
            opts=crd_installer_options(self, depends_on=[self.namespace_resource]),
        )
        self.namespace = self.namespace_resource.metadata.name
        self.directory = pulumi.Output.from_input(directory)
        self.workflow_service_account = pulumi.Output.from_input(WORKFLOW_SERVICE_ACCOUNT)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "directory": self.directory,
                "workflowServiceAccount": self.workflow_service_account,
            }
        )
