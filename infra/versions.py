"""One table of every pinned upstream chart, manifest, file and image the platform installs.

Each entry names where the fact was read (repository, tag, commit, path). Nothing here is ever
``latest``; bumping a version is a change reviewed in one place.

``UPSTREAM_FILES`` pins every upstream file the program or its tests read (CRDs, chart archives,
kustomize manifests) by upstream URL and sha256; ``infra.upstream`` fetches them into
``.tools/upstream/`` (or copies them from a mirror folder) and verifies each one. Their local
paths follow the mirror layout: ``crds/<project>/<tag>/<file>``, ``charts/<name>-<version>.tgz``
and ``charts/<project>-<tag>/manifests/...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: GitHub's raw file host: ``<RAW>/<owner>/<repo>/<commit>/<path>`` is the file at that commit.
RAW_GITHUB = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class UpstreamFile:
    """One pinned upstream file.

    ``path``: where it lives below the upstream root (and below a mirror folder), POSIX form.
    ``url``: where it is fetched from without a mirror. ``sha256``: 64 hex digits; for
    ``digest="file"`` the sha256 of the file's bytes, for ``digest="chart"`` the content digest of
    a Helm chart archive (``infra.upstream.chart_content_digest``: the sha256 of the sorted
    ``sha256sum``-style listing of the files inside, so archives that differ only in tar
    timestamps or compression, as every ``helm package`` run does, verify alike).
    """

    path: str
    url: str
    sha256: str
    digest: Literal["file", "chart"] = "file"


def _git_files(
    repository: str,
    commit: str,
    *,
    upstream_dir: str,
    local_dir: str,
    files: dict[str, str],
) -> tuple[UpstreamFile, ...]:
    """Files ``{relative name: sha256}`` of ``repository`` at ``commit``, from ``upstream_dir``."""
    return tuple(
        UpstreamFile(
            path=f"{local_dir}/{name}",
            url=f"{RAW_GITHUB}/{repository}/{commit}/{upstream_dir}/{name}",
            sha256=sha256,
        )
        for name, sha256 in files.items()
    )


@dataclass(frozen=True)
class Chart:
    """A Helm chart: ``repository`` URL, chart ``name``, chart ``version``, its ``app_version``.

    ``package`` is the chart archive's URL in that repository and ``content_sha256`` its content
    digest (see ``UpstreamFile``); ``source`` names where the facts were read.
    """

    repository: str
    name: str
    version: str
    app_version: str
    source: str
    package: str
    content_sha256: str

    @property
    def archive(self) -> UpstreamFile:
        """The pinned archive, at ``charts/<name>-<version>.tgz`` below the upstream root."""
        return UpstreamFile(
            path=f"charts/{self.name}-{self.version}.tgz",
            url=self.package,
            sha256=self.content_sha256,
            digest="chart",
        )


@dataclass(frozen=True)
class GitRelease:
    """A tagged upstream release installed from its own manifests (no Helm chart).

    ``repository`` is ``owner/name`` on GitHub, ``tag`` and ``commit`` the release, ``source``
    the path read; ``manifests`` is where the pinned manifest tree lives below the upstream root.
    """

    repository: str
    tag: str
    commit: str
    source: str
    manifests: str


#: volcano-sh/volcano v1.15.1 (commit 0a56ed33): installer/helm/chart/volcano/Chart.yaml.
VOLCANO = Chart(
    repository="https://volcano-sh.github.io/helm-charts",
    name="volcano",
    version="1.15.1",
    app_version="1.15.1",
    source="volcano-sh/volcano@v1.15.1 installer/helm/chart/volcano/Chart.yaml",
    package="https://volcano-sh.github.io/helm-charts/volcano-1.15.1.tgz",
    content_sha256="9b84b90fe708d7997cbac3e864641ede9ad6acc863cb8041f8eb1ce3a2c03213",
)

#: fluid-cloudnative/fluid v1.0.8 (commit de578cd2): charts/fluid/fluid/Chart.yaml.
FLUID = Chart(
    repository="https://fluid-cloudnative.github.io/charts",
    name="fluid",
    version="1.0.8",
    app_version="1.0.8-6533239",
    source="fluid-cloudnative/fluid@v1.0.8 charts/fluid/fluid/Chart.yaml",
    package="https://fluid-cloudnative.github.io/charts/fluid-1.0.8.tgz",
    content_sha256="ce6a4faf5b975803cb95c1825242e08337f3f9a98e893a614ebe18419ba3ae5d",
)

#: kubeflow/trainer v1.9.4 (commit 4445c12a), API kubeflow.org/v1: installed from its kustomize
#: overlay ``manifests/overlays/standalone`` (there is no v1 chart; UPSTREAM.md section 3).
TRAINING_OPERATOR = GitRelease(
    repository="kubeflow/trainer",
    tag="v1.9.4",
    commit="4445c12aa62e4345b0c2c6ac9b215a70eca46ed7",
    source="kubeflow/trainer@v1.9.4 manifests/overlays/standalone/kustomization.yaml",
    manifests="charts/training-operator-v1.9.4/manifests",
)
TRAINING_OPERATOR_OVERLAY = "overlays/standalone"
#: Image the v1.9.4 standalone overlay sets (kustomization.yaml ``images``).
TRAINING_OPERATOR_IMAGE = "ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489"

#: argoproj/argo-workflows v4.1.2 (commit 16a52d67): installed from its own release manifests,
#: ``manifests/cluster-install`` (full CRDs + controller + server + RBAC, the tree ``install.yaml``
#: is built from), so the controller and the CRDs come from one tag. The argo-helm chart is not
#: used: no chart for v4.1.x could be verified (its newest verifiable chart is 1.0.18, app v4.0.6).
ARGO_WORKFLOWS = GitRelease(
    repository="argoproj/argo-workflows",
    tag="v4.1.2",
    commit="16a52d67daf2f4a8a76fa8bec02a76a46aa46257",
    source="argoproj/argo-workflows@v4.1.2 manifests/cluster-install/kustomization.yaml",
    manifests="charts/argo-workflows-v4.1.2/manifests",
)
ARGO_OVERLAY = "cluster-install"
#: The manifests at the tag name ``:latest`` images; the release pins them to the tag when it
#: builds ``install.yaml`` (``make manifests`` with ``IMAGE_TAG``), and our overlay does the same.
ARGO_IMAGES = {
    "quay.io/argoproj/workflow-controller": "v4.1.2",
    "quay.io/argoproj/argocli": "v4.1.2",
}
#: The executor image the controller injects into workflow pods (``--executor-image``).
ARGO_EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v4.1.2"

#: NVIDIA/k8s-device-plugin v0.20.0 (commit 1b826acc): deployments/helm/nvidia-device-plugin.
NVIDIA_DEVICE_PLUGIN = Chart(
    repository="https://nvidia.github.io/k8s-device-plugin",
    name="nvidia-device-plugin",
    version="0.20.0",
    app_version="0.20.0",
    source="NVIDIA/k8s-device-plugin@v0.20.0 deployments/helm/nvidia-device-plugin/Chart.yaml",
    package="https://nvidia.github.io/k8s-device-plugin/stable/nvidia-device-plugin-0.20.0.tgz",
    content_sha256="edec98659cf579630f44e3be2980b6bace1b0b696c642db954b03412945f57b6",
)

#: NVIDIA/gpu-operator v26.7.0 (commit 10ee5b36): release workflow packages chart = tag.
GPU_OPERATOR = Chart(
    repository="https://helm.ngc.nvidia.com/nvidia",
    name="gpu-operator",
    version="v26.7.0",
    app_version="v26.7.0",
    source="NVIDIA/gpu-operator@v26.7.0 .github/workflows/release-rc-assets.yaml",
    package="https://helm.ngc.nvidia.com/nvidia/charts/gpu-operator-v26.7.0.tgz",
    content_sha256="cf62bbcbe9a1ae7a9bb368439de942eb5c7670aefe49f4f10937fc5646d28d3a",
)


@dataclass(frozen=True)
class RepositoryChart:
    """A Helm chart installed from its chart repository at a pinned version (and image tag).

    For cloud-only add-ons that never run on this project's test control plane, so their
    archives are not part of ``UPSTREAM_FILES``: Helm fetches ``name`` at ``version`` from
    ``repository`` (or a mirror, ``ChartSource``) at ``pulumi up``. ``index_sha256`` is the
    archive digest the repository's ``index.yaml`` lists for that version, for mirrors to check;
    ``image`` the container image the release runs, pinned in the values.
    """

    repository: str
    name: str
    version: str
    app_version: str
    source: str
    index_sha256: str | None
    image: str


#: kubernetes/autoscaler chart ``cluster-autoscaler`` 9.56.0 (app 1.35.0), as listed in the
#: repository's index.yaml (created 2026-03-02). The image tag follows the cluster's Kubernetes
#: minor (``CLUSTER_AUTOSCALER_IMAGE_TAGS``), as the autoscaler's README asks.
CLUSTER_AUTOSCALER = RepositoryChart(
    repository="https://kubernetes.github.io/autoscaler",
    name="cluster-autoscaler",
    version="9.56.0",
    app_version="1.35.0",
    source="kubernetes/autoscaler gh-pages index.yaml, entry cluster-autoscaler 9.56.0",
    index_sha256="6386cf5fb78f4ef6a024360a1a04916d14b6f2936ce530a55a4341727e8af48d",
    image="registry.k8s.io/autoscaling/cluster-autoscaler",
)
#: Kubernetes minor -> cluster-autoscaler image tag (appVersions of the charts 9.51.0, 9.53.0,
#: 9.56.0 in the same index).
CLUSTER_AUTOSCALER_IMAGE_TAGS = {"1.33": "v1.33.0", "1.34": "v1.34.2", "1.35": "v1.35.0"}

#: kubernetes-sigs/metrics-server chart ``metrics-server`` 3.12.2 (app 0.7.2): Chart.yaml in the
#: module sigs.k8s.io/metrics-server@v0.8.0 (the tag's tree); the module zip's sha256 is given
#: (https://proxy.golang.org/sigs.k8s.io/metrics-server/@v/v0.8.0.zip), the chart archive's is not
#: known here.
METRICS_SERVER = RepositoryChart(
    repository="https://kubernetes-sigs.github.io/metrics-server",
    name="metrics-server",
    version="3.12.2",
    app_version="0.7.2",
    source="kubernetes-sigs/metrics-server@v0.8.0 charts/metrics-server/Chart.yaml",
    index_sha256=None,
    image="registry.k8s.io/metrics-server/metrics-server:v0.7.2",
)
#: sha256 of the module zip sigs.k8s.io/metrics-server@v0.8.0 the chart facts were read from.
METRICS_SERVER_MODULE_ZIP_SHA256 = (
    "f5a32b733cbe1b728ca04f69d602fdb733461767845c85a7a24294fb3f6aab82"
)

#: Charts installed from their repositories (cloud-side add-ons, not in ``UPSTREAM_FILES``).
REPOSITORY_CHARTS = (CLUSTER_AUTOSCALER, METRICS_SERVER)

#: triton-inference-server/server v2.71.0 = NGC container 26.07 (deploy/k8s-onprem/values.yaml).
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"
TRITON_VERSION = "2.71.0"

#: Kubernetes version the offline validation targets by default.
KUBERNETES_VERSION = "1.34.0"

ALL_CHARTS = (VOLCANO, FLUID, NVIDIA_DEVICE_PLUGIN, GPU_OPERATOR)


# --- pinned upstream files ----------------------------------------------------------------------
# Read from the CRD and manifest trees at the commits named; each sha256 is of the file's bytes.

#: volcano-sh/volcano@v1.15.1 installer/helm/chart/volcano/crd/bases
_VOLCANO_CRDS_0 = _git_files(
    "volcano-sh/volcano",
    "0a56ed331897f5455916a44d3075671376d731d6",
    upstream_dir="installer/helm/chart/volcano/crd/bases",
    local_dir="crds/volcano/v1.15.1",
    files={
        "batch.volcano.sh_cronjobs.yaml": "b03c2e53a7a506450f829634d1cfd7935a3937933129e87615882e874779c749",
        "batch.volcano.sh_jobs.yaml": "dcc173abee57fdc1d30a6ac18750a11292effe7c92430a2a4f4131ebfa60f20d",
        "bus.volcano.sh_commands.yaml": "f4ea0f38c7a6c745360bf00fe1d7a20e59ebae5c5b6a16a155dca1f766838a15",
        "config.volcano.sh_colocationconfigurations.yaml": "ef1fe1426db0d6894966e348d87cfc598a58b014a084b8d6e4e92210c6387aa6",
        "nodeinfo.volcano.sh_numatopologies.yaml": "8ca46087d5c0ab2dbd41aef270455e12332f3a3af849da65423a87beafe5bc11",
        "scheduling.volcano.sh_podgroups.yaml": "12d38e3541f70dca7ac25801a48c6d10beaac72a63e701590c47a2f8ba10828b",
        "scheduling.volcano.sh_queues.yaml": "d005fb758ae11867216415a3d5c35e22661f32326d4d3827088cd551d27f498b",
        "shard.volcano.sh_nodeshards.yaml": "bf6df6b10aa497a036270c95be0846f6ca4f88075874da78e0b1555841487e8a",
        "topology.volcano.sh_hypernodes.yaml": "d21df9284d8daff529b7a6c288d07cba5f347256067a319fa1eb5332c7798035",
    },
)

#: volcano-sh/volcano@v1.15.1 installer/helm/chart/volcano/charts/jobflow/crd/bases
_VOLCANO_CRDS_1 = _git_files(
    "volcano-sh/volcano",
    "0a56ed331897f5455916a44d3075671376d731d6",
    upstream_dir="installer/helm/chart/volcano/charts/jobflow/crd/bases",
    local_dir="crds/volcano/v1.15.1",
    files={
        "flow.volcano.sh_jobflows.yaml": "bee25caaee6a584d865dab0040b6755f862a67c285f568337c3467fa69d05ef8",
        "flow.volcano.sh_jobtemplates.yaml": "723b6de372800d6b13ae2dd980dc2890c533618c029ed6ecc5ece99d6e947708",
    },
)

#: fluid-cloudnative/fluid@v1.0.8 charts/fluid/fluid/crds
_FLUID_CRDS = _git_files(
    "fluid-cloudnative/fluid",
    "de578cd23c56a83b527ac00586ab1659cf460f68",
    upstream_dir="charts/fluid/fluid/crds",
    local_dir="crds/fluid/v1.0.8",
    files={
        "data.fluid.io_alluxioruntimes.yaml": "8603d32c38637759ada87950340fd39948803d94a3dc953d4fe07e2a31591fd2",
        "data.fluid.io_databackups.yaml": "5cc91f210098ca204f571f0ad3cda618272fc3596753a021c80931496cbab1eb",
        "data.fluid.io_dataloads.yaml": "f28c8aeff61fea02252db53ad2002ac1205bc378b07435a3b9792d12d535f38a",
        "data.fluid.io_datamigrates.yaml": "5bb0f4c09b4b072ad4441c6f29e2f092fb8dbd33e541b606dd87df39dca65b7c",
        "data.fluid.io_dataprocesses.yaml": "db919c584ed98dadf803e918961cd34a623fc708caf4dd15be4091c365ce4940",
        "data.fluid.io_datasets.yaml": "7bac21416dc34d62ff556f6a3ddf0cdb093ffb37990c790d2a1e52eee88b1486",
        "data.fluid.io_efcruntimes.yaml": "f309f67f0451d5dcc78bb1607fca0ec0f620b2d522deb9e39534adaf105196af",
        "data.fluid.io_goosefsruntimes.yaml": "01301150e43986f844f8d24e303aad571494d16400f14374fbfb82366ad0ca66",
        "data.fluid.io_jindoruntimes.yaml": "791aed755c6dc9f4567dc86e56edc74fff2b13ec74158eea6f948caf6d519e3a",
        "data.fluid.io_juicefsruntimes.yaml": "b3d797699dcdb7037baa6cf3d53333c954745afc56c910758e51ce4d4c6eca7f",
        "data.fluid.io_thinruntimeprofiles.yaml": "964404b10ea7e5a71d8f20d2aef7dd31a3cabec16e94adadc101ec16da42cfce",
        "data.fluid.io_thinruntimes.yaml": "6ea7a49e94e42d1ee5c0b6dc8e771360a809e1f6f706fd9e88b9a71eef14fbde",
        "data.fluid.io_vineyardruntimes.yaml": "6c9963bdf207865517288952a67861f3bdebbc901ff05d51cf1d668ac938756a",
    },
)

#: kubeflow/trainer@v1.9.4 manifests/base/crds
_TRAINING_OPERATOR_CRDS = _git_files(
    "kubeflow/trainer",
    "4445c12aa62e4345b0c2c6ac9b215a70eca46ed7",
    upstream_dir="manifests/base/crds",
    local_dir="crds/training-operator/v1.9.4",
    files={
        "kubeflow.org_jaxjobs.yaml": "f976e7550e66a0e8e771baa6f43851b5ba9e532917cb63e2af003dc2c40804fd",
        "kubeflow.org_mpijobs.yaml": "4657bf247b1eb2ba3bafc2f46eb09925db4a9889591662f4e1cca5cc01288e39",
        "kubeflow.org_paddlejobs.yaml": "084d0d3e427f309c9b9e91322f6f02786648ccc0b8eadedc3d5ece46ef5a55ce",
        "kubeflow.org_pytorchjobs.yaml": "8b8a8a719cc94173169290251e817f7ac2bb425c20b6c2fa813397bcf4e932ed",
        "kubeflow.org_tfjobs.yaml": "6028ab677922ee558d279c9cc2028500372875eec327ed6819fc4dc2796cda9e",
        "kubeflow.org_xgboostjobs.yaml": "b5dfbe6e93ed51e71f5b93ba89a279086e2f2d396f0fed2686a0fbe3e535a7a6",
    },
)

#: argoproj/argo-workflows@v4.1.2 manifests/base/crds/full
_ARGO_WORKFLOWS_CRDS = _git_files(
    "argoproj/argo-workflows",
    "16a52d67daf2f4a8a76fa8bec02a76a46aa46257",
    upstream_dir="manifests/base/crds/full",
    local_dir="crds/argo-workflows/v4.1.2",
    files={
        "argoproj.io_clusterworkflowtemplates.yaml": "1a1e40dca1a544c44b382ff9f50d44a4b6a6a7ff76c0a2d8e6a929c2ddb13749",
        "argoproj.io_cronworkflows.yaml": "31abde1c89c6c11cf1c97753676327e02b2f8dc47827e49383732ac6b1d828c6",
        "argoproj.io_workflowartifactgctasks.yaml": "173dcdf008ef247077819633536c043f13839acfdf8a2672e2bcb9edd9f80136",
        "argoproj.io_workfloweventbindings.yaml": "533f6cf376c8b2b3c4f29adb54dd1b2da0a593c646c6b511fedf28c707609746",
        "argoproj.io_workflows.yaml": "35ffc0d16c9c71db69ae113e562d90057eac75a60e7371aa3012a3171ccd8c39",
        "argoproj.io_workflowtaskresults.yaml": "69490cddb4dcc71a6d0464e0db39b9e0d71315859d63d2bccbeeec4e947e88cc",
        "argoproj.io_workflowtasksets.yaml": "64cb326512436752f68b185031cdf10f52d609d1b0ed06fb6c33d7baf5c48524",
        "argoproj.io_workflowtemplates.yaml": "e932631a04a0f3a226b2ca8c68d43214c071c5d8aa6961b23298b81cbea3d9a5",
    },
)

#: kubeflow/trainer@v1.9.4 manifests/ (base and overlays/standalone)
_TRAINING_OPERATOR_MANIFESTS = _git_files(
    "kubeflow/trainer",
    "4445c12aa62e4345b0c2c6ac9b215a70eca46ed7",
    upstream_dir="manifests",
    local_dir="charts/training-operator-v1.9.4/manifests",
    files={
        "base/crds/kubeflow.org_jaxjobs.yaml": "f976e7550e66a0e8e771baa6f43851b5ba9e532917cb63e2af003dc2c40804fd",
        "base/crds/kubeflow.org_mpijobs.yaml": "4657bf247b1eb2ba3bafc2f46eb09925db4a9889591662f4e1cca5cc01288e39",
        "base/crds/kubeflow.org_paddlejobs.yaml": "084d0d3e427f309c9b9e91322f6f02786648ccc0b8eadedc3d5ece46ef5a55ce",
        "base/crds/kubeflow.org_pytorchjobs.yaml": "8b8a8a719cc94173169290251e817f7ac2bb425c20b6c2fa813397bcf4e932ed",
        "base/crds/kubeflow.org_tfjobs.yaml": "6028ab677922ee558d279c9cc2028500372875eec327ed6819fc4dc2796cda9e",
        "base/crds/kubeflow.org_xgboostjobs.yaml": "b5dfbe6e93ed51e71f5b93ba89a279086e2f2d396f0fed2686a0fbe3e535a7a6",
        "base/crds/kustomization.yaml": "b2829bd00fa145ba01029ade3fe62651b5a03dc430e12bf880b2b376b2413854",
        "base/deployment.yaml": "39ceb09edbeb534c3754406ff17ad4d3aab1fa54f5475d27a25b80141eba0f42",
        "base/kustomization.yaml": "292e53cd1ed8ebbb2477c1331702b09c060af130f035481dfa71a8674df31961",
        "base/rbac/cluster-role-binding.yaml": "1ceb86a84c06df8c2f407a63bf622006688d5a471113f6c3799ce9ff02646a5e",
        "base/rbac/role.yaml": "59ea515dae86e0fd479ac8f4b88a17c10ee21f8da054a13edd5e120ed1f01d90",
        "base/rbac/service-account.yaml": "01459d2413879864fc0c4d792e982aa6cb5aede31a9004c28ede920933846a61",
        "base/service.yaml": "0f569f381983ee755057b6def5c6efbb0a0035ec5164c430e4770d3b8039be29",
        "base/webhook/kustomization.yaml": "d57d5218b0dc49a24ad5e9df697cf8d818e7a2f004988d616b97a54e019b7347",
        "base/webhook/kustomizeconfig.yaml": "258f8136357225073737778dda14b01147b1da9a9676bc710b862414e0ba48bb",
        "base/webhook/manifests.yaml": "abc4ea6710c0eb760f30dff04a9e6a34f0aad351bf38bfaa878c27c0d5d00c63",
        "base/webhook/patch.yaml": "ebdf0d8c5895a26f766568a98c9dd5fbdd0f682d2ce4813de06c6b3a42465b95",
        "overlays/standalone/kustomization.yaml": "a992a582146a282543db480fe8bd42e6d6f5516eb38c46968b55731670c022c3",
        "overlays/standalone/namespace.yaml": "2fb035fc9616396197c0165a5947363220570750457a9ef7f2ddf434a774301d",
    },
)

#: argoproj/argo-workflows@v4.1.2 manifests/ (cluster-install and what it references)
_ARGO_MANIFESTS = _git_files(
    "argoproj/argo-workflows",
    "16a52d67daf2f4a8a76fa8bec02a76a46aa46257",
    upstream_dir="manifests",
    local_dir="charts/argo-workflows-v4.1.2/manifests",
    files={
        "base/argo-server/argo-server-deployment.yaml": "18ce29181a99e29a9eaeb75a7b2eb569b5590a4fa9f9f4d1abd80a477e1cbbc2",
        "base/argo-server/argo-server-sa.yaml": "e7c84d263a8356bb630ac4a57cc6e046cea3ec12ab4c93ac3c56cda69d17c5f5",
        "base/argo-server/argo-server-service.yaml": "11cfe762f56b896e3cfc5914d21e10591cc0ea9a6c73f73cc4aa04714f89e65e",
        "base/argo-server/kustomization.yaml": "a56561e2a74d87d5be536ea5134c3a301400810467bddd915971b5faf62b04fb",
        "base/crds/full/argoproj.io_clusterworkflowtemplates.yaml": "1a1e40dca1a544c44b382ff9f50d44a4b6a6a7ff76c0a2d8e6a929c2ddb13749",
        "base/crds/full/argoproj.io_cronworkflows.yaml": "31abde1c89c6c11cf1c97753676327e02b2f8dc47827e49383732ac6b1d828c6",
        "base/crds/full/argoproj.io_workflowartifactgctasks.yaml": "173dcdf008ef247077819633536c043f13839acfdf8a2672e2bcb9edd9f80136",
        "base/crds/full/argoproj.io_workfloweventbindings.yaml": "533f6cf376c8b2b3c4f29adb54dd1b2da0a593c646c6b511fedf28c707609746",
        "base/crds/full/argoproj.io_workflows.yaml": "35ffc0d16c9c71db69ae113e562d90057eac75a60e7371aa3012a3171ccd8c39",
        "base/crds/full/argoproj.io_workflowtaskresults.yaml": "69490cddb4dcc71a6d0464e0db39b9e0d71315859d63d2bccbeeec4e947e88cc",
        "base/crds/full/argoproj.io_workflowtasksets.yaml": "64cb326512436752f68b185031cdf10f52d609d1b0ed06fb6c33d7baf5c48524",
        "base/crds/full/argoproj.io_workflowtemplates.yaml": "e932631a04a0f3a226b2ca8c68d43214c071c5d8aa6961b23298b81cbea3d9a5",
        "base/crds/full/kustomization.yaml": "8867340db364a375d367c2abfb10ad4f94252728a6c32003c5747c7780cfd9b2",
        "base/workflow-controller/kustomization.yaml": "059ea4d682ca3cf527786bcca6edd429def89e6c8bbe139f20c6b53361c8ea1e",
        "base/workflow-controller/workflow-controller-configmap.yaml": "838249e13c411c6a1aea5993388bd87bb70fc5db3994afbea04c4ee12fc5d6fa",
        "base/workflow-controller/workflow-controller-deployment.yaml": "851257565170f2f0f3e0140dfe45bbd546e83b4ae95a5dad6751d2cf6c099ee7",
        "base/workflow-controller/workflow-controller-priorityclass.yaml": "c4050d6b68d489c6276d197f6a685b1f278a021f5a758534902a74a31dad0eb3",
        "base/workflow-controller/workflow-controller-sa.yaml": "668ebbd6c43889547668a8a0790e55f01507b47e3d262ccf1d63a7d945d6ab02",
        "cluster-install/kustomization.yaml": "3220de8cfc69bd1e33dbdc9cf72e41f91c98586790150315aa505392ae9e5017",
        "cluster-install-no-crds/argo-server-rbac/argo-server-clusterole.yaml": "faf8ae018b5990ef193a6c0828b693f870707c74bc1520a58e5c4bb15737d4a2",
        "cluster-install-no-crds/argo-server-rbac/argo-server-clusterolebinding.yaml": "f2669f3efd91918f114e263b83920105ec06afa28e02cfd37fc31d8766f16052",
        "cluster-install-no-crds/argo-server-rbac/kustomization.yaml": "cdf350f51ac97dd2d8712a1827a1270d2183035ebb4dc709011559fb11440b6f",
        "cluster-install-no-crds/kustomization.yaml": "01d15255956f0da76315d5fc5cf5582069bf49254d1ddc4e5f08d3ff3118488b",
        "cluster-install-no-crds/workflow-controller-rbac/kustomization.yaml": "5b46e9f071d1012abdeef8b963cd08fd46f795f79d46acabeb78bc2ae1ffecc3",
        "cluster-install-no-crds/workflow-controller-rbac/workflow-aggregate-roles.yaml": "5c104f2d89fe5a45ec11c53ea0bfe9b4f865747ceff693624b5cfe23bb78aad7",
        "cluster-install-no-crds/workflow-controller-rbac/workflow-controller-clusterrole.yaml": "36a98c2a59f32cc0b5d7790a1d50415a9d98dd5bcb0f6f0a40b9acb8ee38db23",
        "cluster-install-no-crds/workflow-controller-rbac/workflow-controller-clusterrolebinding.yaml": "44fdea7ba86a812a205dc1284065f215148f0450caa7df645adde3feb2cfa8cb",
        "cluster-install-no-crds/workflow-controller-rbac/workflow-controller-role.yaml": "9efec7ab5ae4d412113f4aef8fe30cc07cba0d111bbe4edc960683808589f396",
        "cluster-install-no-crds/workflow-controller-rbac/workflow-controller-rolebinding.yaml": "386fc2c7f7502448099dc631e9a83e233fb4c7d5e780dfc7d742ad88b64486f6",
    },
)

#: Every upstream file the program or its tests read, each pinned by URL and sha256.
UPSTREAM_FILES: tuple[UpstreamFile, ...] = (
    *_VOLCANO_CRDS_0,
    *_VOLCANO_CRDS_1,
    *_FLUID_CRDS,
    *_TRAINING_OPERATOR_CRDS,
    *_ARGO_WORKFLOWS_CRDS,
    *_TRAINING_OPERATOR_MANIFESTS,
    *_ARGO_MANIFESTS,
    *(chart.archive for chart in ALL_CHARTS),
)
