"""Add-ons: one ComponentResource per upstream component, plus the helpers they share.

Modules: ``volcano`` (batch scheduler), ``fluid`` (dataset caching), ``training_operator``
(Kubeflow training operator v1), ``argo`` (Argo Workflows + its CRDs), ``gpu`` (NVIDIA device
plugin or GPU Operator), ``triton`` (serving defaults of every inference service),
``model_registry`` (our kubeai-glue chart: the model registry), and ``artifact_store`` (the names
every add-on and team stack uses for the platform object store). Add-ons never import each other:
what two of them share lives here or in ``artifact_store``. Every chart version, manifest tag and
image comes from ``infra.versions``.

CRD retention: a resource that installs CustomResourceDefinitions is registered with
``retain_on_delete=True`` (``crd_installer_options``). Deleting or replacing it in Pulumi
(switching the install method, renaming the release, disabling the add-on) then leaves the CRDs,
and with them every team's Queues, Datasets, PyTorchJobs and Workflows, in the cluster; removing
them is a deliberate manual step. ``protect`` is not set: it would also block the replacements an
upgrade may need, while ``retain_on_delete`` already makes every delete a no-op in the cluster.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ChartSource
from infra.versions import Chart

#: The repository root (the directory holding Pulumi.yaml, charts/ and infra/).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Pulumi type token of a CRD, as children of ConfigGroup/Directory components are registered.
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

#: Pod Security Admission labels (https://kubernetes.io/docs/concepts/security/pod-security-admission/).
PSA_MODES = ("enforce", "audit", "warn")


def relative(target: Path) -> str:
    """``target`` relative to the current directory (the absolute path on another drive).

    The program's paths (chart directories and archives, kustomize directories) are read by the
    Kubernetes provider, which runs in the same directory as the program: ``infra/`` under the
    regular ``pulumi up`` (Pulumi.yaml ``main``), the workspace folder under ``kubeai stack``
    (``infra.engine.driver``), the repository root in the offline render and the tests. A relative
    path keeps the Release/Directory inputs identical wherever the checkout lives, so state never
    diffs on a checkout path.
    """
    try:
        return os.path.relpath(target)
    except ValueError:  # a different drive (Windows): fall back to the absolute path
        return str(target)


def repo_path(*parts: str) -> str:
    """A path under the repository root, relative to the current directory (``relative``)."""
    return relative(REPO_ROOT.joinpath(*parts))


def chart_args(chart: Chart, source: ChartSource) -> dict[str, Any]:
    """``helm.v3.Release`` arguments locating ``chart`` at its pinned version.

    By default the chart is the pinned, verified archive ``<tools>/upstream/charts/<name>-<version>
    .tgz`` (``infra.upstream.ensure``: fetched from ``KUBEAI_UPSTREAM_MIRROR`` or upstream and
    checked against its content digest in ``infra.versions``), so what Helm installs is exactly
    what was pinned, and ``pulumi up`` needs no chart repository. ``source``
    (``kubeai:addons.<addon>.chart``) overrides where it comes from: ``repository`` (a mirror;
    ``oci://`` registries are addressed as ``<repository>/<chart name>``) or ``path`` (a local
    chart directory or ``.tgz``, relative to the repository root). The pinned version is always
    passed, so a mirror serving another version fails instead of drifting.
    Returns a dict with ``chart``, ``version`` and, for HTTP repositories, ``repository_opts``.
    Raises ``infra.upstream.UpstreamError`` when the pinned archive cannot be fetched or verified.
    """
    if source.path:
        path = source.path if os.path.isabs(source.path) else repo_path(source.path)
        return {"chart": path, "version": chart.version}
    if source.repository is None:
        from infra import upstream

        return {"chart": relative(upstream.ensure(chart.archive.path)), "version": chart.version}
    return repository_args(chart.name, chart.version, source.repository)


def repository_args(name: str, version: str, repository: str) -> dict[str, Any]:
    """``helm.v3.Release`` arguments for chart ``name`` at ``version`` from a chart repository:
    ``oci://`` registries are addressed as ``<repository>/<name>``, HTTP(S) ones through
    ``repository_opts``."""
    if repository.startswith("oci://"):
        return {"chart": f"{repository.rstrip('/')}/{name}", "version": version}
    return {
        "chart": name,
        "version": version,
        "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repository),
    }


#: Seconds a release may take to become ready (``helm.v3.Release`` ``timeout``; the provider's
#: default is 300). Add-on controllers on existing nodes: 10 minutes. Anything that may wait for
#: a GPU node to scale up from zero (a few minutes on EKS/GKE/ACK) and then pull a ~10 GB image
#: (Triton, the GPU Operator's driver container: 5-10 minutes at 20-30 MB/s): 30 minutes.
ADDON_TIMEOUT_S = 600
GPU_TIMEOUT_S = 1800


def release_settings(timeout_s: int) -> dict[str, Any]:
    """The ``helm.v3.Release`` arguments every release of the program shares.

    ``timeout`` (seconds, ``ADDON_TIMEOUT_S`` or ``GPU_TIMEOUT_S``); ``atomic``: a failed
    install or upgrade is rolled back, so a failed upgrade leaves the previous release serving
    (the update fails with Helm's reason, Pulumi keeps the previous inputs and the next ``up``
    tries again); ``cleanup_on_fail``: objects the failed attempt created are deleted;
    ``max_history`` 10 revisions kept for ``helm rollback``.
    """
    return {"timeout": timeout_s, "atomic": True, "cleanup_on_fail": True, "max_history": 10}


def namespace_manifest_labels(
    pod_security: str | None, labels: dict[str, str] | None = None
) -> dict[str, str]:
    """Namespace labels: ``labels`` plus Pod Security Admission ``enforce``/``audit``/``warn``."""
    out = dict(labels or {})
    if pod_security:
        for mode in PSA_MODES:
            out[f"pod-security.kubernetes.io/{mode}"] = pod_security
    return out


def create_namespace(
    resource_name: str,
    name: str,
    *,
    parent: pulumi.Resource,
    pod_security: str | None = None,
    labels: dict[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """A Namespace ``name`` (child of ``parent``) with Pod Security labels.

    Add-on namespaces that run privileged node agents (CSI/FUSE, device plugin) pass
    ``pod_security="privileged"``; the others ``baseline``.
    """
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels=namespace_manifest_labels(
                pod_security, {"app.kubernetes.io/part-of": "kubeai", **(labels or {})}
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def retain_crds(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Resource transform: CRDs created inside a component (ConfigGroup, Directory) are retained.

    ``retain_on_delete`` on a multi-language component is not reliably applied to the objects the
    provider creates inside it, so the CRD children get it explicitly.
    """
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        props=args.props,
        opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


#: Pulumi type token of a Secret, as children of ConfigGroup/Directory components are registered.
SECRET_TYPE = "kubernetes:core/v1:Secret"  # noqa: S105 - a type token, not a password


def controller_filled_secrets(*names: str) -> pulumi.ResourceTransform:
    """Resource transform: the named Secrets inside a component are created, then left to their
    controller (``ignore_changes`` on ``data`` and ``stringData``).

    Upstream manifests declare some Secrets empty for their controller to fill at run time (the
    training operator's webhook certificate). The Kubernetes provider replaces a Secret whenever
    its ``data`` differs from the inputs (``enableSecretMutable`` is off by default), and an empty
    generated Secret differed on every ``pulumi up``: each update would have deleted the
    certificate the controller wrote. ``names`` are ``metadata.name`` values.
    """
    wanted = set(names)

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        metadata = args.props.get("metadata") if isinstance(args.props, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if args.type_ != SECRET_TYPE or name not in wanted:
            return None
        ignore = pulumi.ResourceOptions(ignore_changes=["data", "stringData"])
        return pulumi.ResourceTransformResult(
            props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, ignore)
        )

    return transform


def crd_installer_options(
    parent: pulumi.Resource, depends_on: list[pulumi.Resource] | None = None
) -> pulumi.ResourceOptions:
    """Options of a resource that installs CRDs: retained on delete/replace (module docstring)."""
    return pulumi.ResourceOptions(
        parent=parent,
        depends_on=depends_on or [],
        retain_on_delete=True,
        transforms=[retain_crds],
    )


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_dns_label(value: str, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` unless ``value`` is a DNS-1123 label (<= 63 chars)."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(f"{what} must be a DNS-1123 label (a-z, 0-9, '-', <= 63), got {value!r}")
