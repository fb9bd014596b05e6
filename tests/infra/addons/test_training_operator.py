"""infra/addons/training_operator.py and infra/manifests/training-operator: the generated kustomize
overlay over the verified upstream manifests (gang scheduler patch, pinned image), ordering after
Volcano, CRD retention."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from infra import upstream, versions
from infra.addons import REPO_ROOT, retain_crds
from infra.addons import training_operator as to
from infra.config import TrainingOperatorAddon
from tests.support.helm import HelmTools

PATCHES = REPO_ROOT / "infra" / "manifests" / "training-operator"
DIRECTORY = "kubernetes:kustomize/v2:Directory"


def test_patch_adds_the_gang_scheduler_flag() -> None:
    patch = yaml.safe_load((PATCHES / to.PATCH_FILE).read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "training-operator"
    assert container["command"] == ["/manager", to.GANG_SCHEDULER_FLAG]


def test_overlay_is_the_verified_upstream_standalone_overlay_plus_our_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    directory = REPO_ROOT / to.overlay_directory()
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    (resource,) = kustomization["resources"]
    base = (directory / resource).resolve()
    assert (
        base
        == (
            upstream.default_root()
            / versions.TRAINING_OPERATOR.manifests
            / versions.TRAINING_OPERATOR_OVERLAY
        ).resolve()
    )
    assert (directory / to.PATCH_FILE).read_text() == (PATCHES / to.PATCH_FILE).read_text()
    # Content-addressed: the same inputs give the same directory.
    assert to.overlay_directory() == str(directory.relative_to(REPO_ROOT))


def test_overlay_renders_the_pinned_operator_with_gang_scheduling(
    helm_tools: HelmTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    out = subprocess.run(
        [str(helm_tools.kubectl), "kustomize", to.overlay_directory()],
        capture_output=True,
        text=True,
        check=True,
        env=helm_tools.env,
    ).stdout
    objects = [o for o in yaml.safe_load_all(out) if o]
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("CustomResourceDefinition") == 6
    assert len(objects) == 14  # the standalone overlay at v1.9.4 renders 14 objects
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == to.NAMESPACE
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/manager", "--gang-scheduler-name=volcano"]
    assert container["image"] == versions.TRAINING_OPERATOR_IMAGE


def test_directory_after_volcano_and_retained(platform_run) -> None:
    run = platform_run("eks")
    directory = run.one(DIRECTORY, "training-operator-manifests")
    assert os.path.basename(directory.inputs["directory"]).startswith("training-operator-")
    assert run.waits_for(
        directory.key,
        [
            ("kubeai:addons:Volcano", "volcano"),
            ("kubernetes:helm.sh/v3:Release", "volcano-release"),
        ],
    )
    assert directory.options.retain_on_delete is True
    assert retain_crds in directory.options.transforms


def test_args_need_volcano() -> None:
    with pytest.raises(ValueError, match="needs Volcano"):
        to.TrainingOperatorArgs(config=TrainingOperatorAddon(), volcano=None).validate()
