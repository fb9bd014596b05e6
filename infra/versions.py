"""One table of every pinned upstream chart, manifest and image the platform installs.

Each entry names where the fact was read (repository, tag, path); see ../shared/UPSTREAM.md.
Nothing here is ever ``latest``; bumping a version is a one-line change reviewed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A Helm chart: ``repository`` URL, chart ``name``, chart ``version``, its ``app_version``."""

    repository: str
    name: str
    version: str
    app_version: str
    source: str


@dataclass(frozen=True)
class Manifest:
    """A release manifest set: ``version`` tag and URL path pieces."""

    version: str
    source: str


#: volcano-sh/volcano v1.15.1 (commit 0a56ed33): installer/helm/chart/volcano/Chart.yaml.
VOLCANO = Chart(
    repository="https://volcano-sh.github.io/helm-charts",
    name="volcano",
    version="1.15.1",
    app_version="1.15.1",
    source="volcano-sh/volcano@v1.15.1 installer/helm/chart/volcano/Chart.yaml",
)

#: fluid-cloudnative/fluid v1.0.8 (commit de578cd2): charts/fluid/fluid/Chart.yaml.
FLUID = Chart(
    repository="https://fluid-cloudnative.github.io/charts",
    name="fluid",
    version="1.0.8",
    app_version="1.0.8-6533239",
    source="fluid-cloudnative/fluid@v1.0.8 charts/fluid/fluid/Chart.yaml",
)

#: kubeflow/trainer v1.9.4 (commit 4445c12a), API kubeflow.org/v1: manifests/overlays/standalone.
TRAINING_OPERATOR = Manifest(
    version="v1.9.4",
    source="kubeflow/trainer@v1.9.4 manifests/overlays/standalone/kustomization.yaml",
)
TRAINING_OPERATOR_OVERLAY = "manifests/overlays/standalone"
#: Image the v1.9.4 standalone overlay sets (kustomization.yaml ``images``).
TRAINING_OPERATOR_IMAGE = "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489"

#: argoproj/argo-helm charts/argo-workflows: the newest chart seen whose appVersion is v4.1.x
#: (2.0.1 / v4.1.0, from a published index.yaml; UPSTREAM.md section 5).
ARGO_WORKFLOWS = Chart(
    repository="https://argoproj.github.io/argo-helm",
    name="argo-workflows",
    version="2.0.1",
    app_version="v4.1.0",
    source="argoproj/argo-helm index.yaml (charts/argo-workflows 2.0.1, appVersion v4.1.0)",
)
#: The full CRDs are installed by our program from this release (argoproj/argo-workflows
#: v4.1.2, commit 16a52d67, manifests/base/crds/full/), not by the chart's CRD download job.
ARGO_CRDS = Manifest(
    version="v4.1.2",
    source="argoproj/argo-workflows@v4.1.2 manifests/base/crds/full/",
)
ARGO_CRD_FILES = (
    "argoproj.io_clusterworkflowtemplates.yaml",
    "argoproj.io_cronworkflows.yaml",
    "argoproj.io_workflowartifactgctasks.yaml",
    "argoproj.io_workfloweventbindings.yaml",
    "argoproj.io_workflows.yaml",
    "argoproj.io_workflowtaskresults.yaml",
    "argoproj.io_workflowtasksets.yaml",
    "argoproj.io_workflowtemplates.yaml",
)

#: NVIDIA/k8s-device-plugin v0.20.0 (commit 1b826acc): deployments/helm/nvidia-device-plugin.
NVIDIA_DEVICE_PLUGIN = Chart(
    repository="https://nvidia.github.io/k8s-device-plugin",
    name="nvidia-device-plugin",
    version="0.20.0",
    app_version="0.20.0",
    source="NVIDIA/k8s-device-plugin@v0.20.0 deployments/helm/nvidia-device-plugin/Chart.yaml",
)

#: NVIDIA/gpu-operator v26.7.0 (commit 10ee5b36): release workflow packages chart = tag.
GPU_OPERATOR = Chart(
    repository="https://helm.ngc.nvidia.com/nvidia",
    name="gpu-operator",
    version="v26.7.0",
    app_version="v26.7.0",
    source="NVIDIA/gpu-operator@v26.7.0 .github/workflows/release-rc-assets.yaml",
)

#: triton-inference-server/server v2.71.0 = NGC container 26.07 (deploy/k8s-onprem/values.yaml).
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"
TRITON_VERSION = "2.71.0"

#: Kubernetes version the offline validation targets by default.
KUBERNETES_VERSION = "1.34.0"

ALL_CHARTS = (VOLCANO, FLUID, ARGO_WORKFLOWS, NVIDIA_DEVICE_PLUGIN, GPU_OPERATOR)
