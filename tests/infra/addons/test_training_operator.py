"""infra/addons/training_operator.py and infra/manifests/training-operator: the kustomize overlay
(pinned tag, gang scheduler patch), mirrors, ordering after Volcano, CRD retention."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import versions
from infra.addons import REPO_ROOT, retain_crds
from infra.addons import training_operator as to
from infra.config import TrainingOperatorAddon

OVERLAY = REPO_ROOT / "infra" / "manifests" / "training-operator"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
KUBECTL = REPO_ROOT / ".tools" / "kubectl-v1.34.5" / "kubectl"


def test_checked_in_overlay_matches_the_pinned_version() -> None:
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert kustomization == to.overlay_kustomization(to.DEFAULT_MANIFESTS_BASE)
    (resource,) = kustomization["resources"]
    assert resource.endswith(f"?ref={versions.TRAINING_OPERATOR.version}")
    assert f"//{versions.TRAINING_OPERATOR_OVERLAY}?" in resource


def test_patch_adds_the_gang_scheduler_flag() -> None:
    patch = yaml.safe_load((OVERLAY / to.PATCH_FILE).read_text())
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "training-operator"
    assert container["command"] == ["/manager", to.GANG_SCHEDULER_FLAG]


@pytest.mark.skipif(not KUBECTL.exists(), reason=f"{KUBECTL} missing: python tools/fetch_tools.py")
def test_patch_applies_to_an_upstream_shaped_deployment(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml]\nnamespace: kubeflow\n")
    (base / "deployment.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "training-operator"},
                "spec": {
                    "selector": {"matchLabels": {"control-plane": "kubeflow-training-operator"}},
                    "template": {
                        "metadata": {"labels": {"control-plane": "kubeflow-training-operator"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "training-operator",
                                    "image": versions.TRAINING_OPERATOR_IMAGE,
                                    "command": ["/manager"],
                                }
                            ]
                        },
                    },
                },
            }
        )
    )
    overlay = tmp_path / "overlay"
    shutil.copytree(OVERLAY, overlay)
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    kustomization["resources"] = ["../base"]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    (deployment,) = list(yaml.safe_load_all(out))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/manager", "--gang-scheduler-name=volcano"]
    assert container["image"] == versions.TRAINING_OPERATOR_IMAGE


def test_overlay_resource_forms() -> None:
    tag = versions.TRAINING_OPERATOR.version
    assert to.overlay_resource("https://git.example/kubeflow/trainer/") == (
        f"https://git.example/kubeflow/trainer//manifests/overlays/standalone?ref={tag}"
    )
    assert to.overlay_resource("/srv/trainer") == "/srv/trainer/manifests/overlays/standalone"


def test_default_base_uses_the_checked_in_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert to.overlay_directory(to.DEFAULT_MANIFESTS_BASE) == os.path.join(
        "infra", "manifests", "training-operator"
    )


def test_mirror_base_gets_a_stable_generated_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(to, "GENERATED_ROOT", tmp_path / "overlays")
    monkeypatch.chdir(tmp_path)
    first = to.overlay_directory("https://git.mirror.example/trainer")
    assert first == to.overlay_directory("https://git.mirror.example/trainer")
    written = tmp_path / first
    kustomization = yaml.safe_load((written / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [to.overlay_resource("https://git.mirror.example/trainer")]
    assert (written / to.PATCH_FILE).read_text() == (OVERLAY / to.PATCH_FILE).read_text()


def test_directory_after_volcano_and_retained(platform_run) -> None:
    run = platform_run("eks")
    directory = run.one(DIRECTORY, "training-operator-manifests")
    assert directory.inputs["directory"].endswith(os.path.join("manifests", "training-operator"))
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
