"""infra/platform.py: the platform stack in dependency order, pinned versions, exports, checks."""

from __future__ import annotations

import pytest

from infra import versions
from infra.config import ConfigError, platform_outputs
from infra.platform import check_platform_secrets
from infra.versions import REPOSITORY_CHARTS
from tests.infra import factories

RELEASE = "kubernetes:helm.sh/v3:Release"
PINNED = {c.name: c for c in versions.ALL_CHARTS}
PROVIDERS = ("existing", "eks", "gke", "ack")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_upstream_release_is_pinned(platform_run, provider: str) -> None:
    run = platform_run(provider)
    for release in run.of_type(RELEASE):
        chart = release.inputs["chart"]
        if chart.startswith("charts/"):
            continue  # our own charts, versioned in the repository
        from_repository = {c.name: c for c in REPOSITORY_CHARTS}
        if chart in from_repository:  # cloud-side charts, from their repository
            pinned_repo = from_repository[chart]
            assert release.inputs["version"] == pinned_repo.version, release.name
            assert release.inputs["repositoryOpts"]["repo"] == pinned_repo.repository
            continue
        pinned = next(c for c in PINNED.values() if chart == factories.verified_archive(c))
        assert release.inputs["version"] == pinned.version, release.name
    for text in (s for r in run.resources.values() for s in _strings(r.inputs)):
        assert not text.endswith(":latest") and text != "latest"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_exports_are_the_platform_outputs(platform_run, provider: str) -> None:
    run = platform_run(provider)
    expected = platform_outputs(factories.platform_config(provider)).model_dump(by_alias=True)
    assert run.exports["platform"] == expected


def test_dependency_order(platform_run) -> None:
    run = platform_run("eks")
    pools = [
        ("kubeai:node_pools:GpuNodePool", "pool-gpu"),
        ("kubeai:node_pools:GpuNodePool", "pool-cpu"),
    ]
    assert run.waits_for(("kubeai:addons:GpuEnablement", "gpu"), pools)
    assert run.waits_for(
        (RELEASE, "gpu-release"), [("aws:eks/nodeGroup:NodeGroup", "pool-gpu-node-group")]
    )
    assert run.waits_for(
        ("kubernetes:kustomize/v2:Directory", "training-operator-manifests"),
        [(RELEASE, "volcano-release")],
    )
    assert run.waits_for(
        ("kubernetes:kustomize/v2:Directory", "argo-manifests"),
        [("kubernetes:core/v1:Namespace", "argo-namespace")],
    )


def test_crd_installers_are_retained_and_nothing_else(platform_run) -> None:
    run = platform_run("eks")
    retained = {r.name for r in run.resources.values() if r.options and r.options.retain_on_delete}
    assert retained == {
        "volcano-release",
        "fluid-release",
        "training-operator-manifests",
        "argo-manifests",
    }


def test_disabled_addons_are_absent(platform_run) -> None:
    run = platform_run(
        "eks",
        addons={
            "argo": {"enabled": False},
            "trainingOperator": {"enabled": False},
            "volcano": {"enabled": False},
        },
    )
    types = run.types()
    assert (
        not {
            "kubeai:addons:ArgoWorkflows",
            "kubeai:addons:TrainingOperator",
            "kubeai:addons:Volcano",
        }
        & types
    )
    assert "kubeai:addons:ModelRegistry" in types


def test_training_operator_needs_volcano() -> None:
    config = factories.platform_config("eks", addons={"volcano": {"enabled": False}})
    with pytest.raises(ConfigError, match=r"kubeai:addons\.trainingOperator\.enabled"):
        check_platform_secrets(config, {})


def test_object_store_keys_come_in_pairs() -> None:
    config = factories.platform_config("eks")
    with pytest.raises(ConfigError) as caught:
        check_platform_secrets(config, {"artifactStoreAccessKeyId": "x"})
    assert caught.value.problems[0][0] == "kubeai:artifactStoreSecretAccessKey"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_release_has_its_timeout_and_rolls_back_on_failure(platform_run, provider) -> None:
    """The provider's default 300 s is too short for a GPU node from zero plus a ~10 GB image."""
    gpu = "auto" if provider == "gke" else "gpuOperator"  # refused on gke: kubeai:addons.gpu.mode
    run = platform_run(provider, addons={"gpu": {"mode": gpu}})
    releases = run.of_type(RELEASE)
    assert releases
    for release in releases:
        inputs = release.inputs
        assert inputs["atomic"] is True and inputs["cleanupOnFail"] is True, release.name
        want = 1800 if release.name == "gpu-release" else 600
        assert inputs["timeout"] == want, release.name
