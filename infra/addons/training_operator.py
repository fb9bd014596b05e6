"""Kubeflow training operator v1 (kubeflow.org/v1 PyTorchJob, TFJob, XGBoostJob, MPIJob, ...).

There is no upstream chart for v1 (../shared/UPSTREAM.md section 3). The program applies our
kustomize overlay ``infra/manifests/training-operator`` with ``pulumi_kubernetes.kustomize.v2.
Directory``: its base is the upstream ``manifests/overlays/standalone`` at the tag
``versions.TRAINING_OPERATOR`` (kubeflow/trainer v1.9.4) and its patch adds
``--gang-scheduler-name=volcano`` to the operator's command, so every job gets a Volcano PodGroup
(gang scheduling in the team's queue).

Ordering: with that flag the operator checks at start that the PodGroup CRD exists, so the
Directory depends on the Volcano add-on. The overlay installs the kubeflow.org CRDs, so it is
registered as a CRD installer (retained on delete, ``infra.addons``).

Mirrors: ``kubeai:addons.trainingOperator.manifestsBase`` replaces
``https://github.com/kubeflow/trainer`` (a git mirror URL, or a local checkout path); the program
then writes the same overlay with that base under ``.kubeai/overlays/`` (content-addressed, so
the path is stable) and points the Directory there.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import versions
from infra.addons import REPO_ROOT, crd_installer_options, repo_path
from infra.config import TrainingOperatorAddon

#: The upstream repository of the v1 operator since v1.9.1.
DEFAULT_MANIFESTS_BASE = "https://github.com/kubeflow/trainer"
#: Our checked-in overlay (relative to the repository root).
OVERLAY_DIR = ("infra", "manifests", "training-operator")
#: The strategic merge patch inside it.
PATCH_FILE = "gang-scheduler-volcano.yaml"
#: Namespace the standalone overlay installs into.
NAMESPACE = "kubeflow"
#: Gang scheduler flag the patch adds (cmd/training-operator.v1/main.go).
GANG_SCHEDULER_FLAG = "--gang-scheduler-name=volcano"
#: Where overlays for other bases are written (git-ignored ``.kubeai/``).
GENERATED_ROOT = REPO_ROOT / ".kubeai" / "overlays"


def overlay_resource(manifests_base: str) -> str:
    """The kustomize ``resources`` entry of the upstream standalone overlay at the pinned tag.

    Remote bases use kustomize's ``<repo>//<path>?ref=<tag>`` form; a local checkout is the plain
    path (the checkout itself is expected at the pinned tag).
    """
    base = manifests_base.rstrip("/")
    if "://" in base or base.startswith("git@"):
        return (
            f"{base}//{versions.TRAINING_OPERATOR_OVERLAY}?ref={versions.TRAINING_OPERATOR.version}"
        )
    return f"{base}/{versions.TRAINING_OPERATOR_OVERLAY}"


def overlay_kustomization(manifests_base: str) -> dict[str, object]:
    """Our overlay's kustomization for ``manifests_base`` (the checked-in one's shape)."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [overlay_resource(manifests_base)],
        "patches": [
            {
                "path": PATCH_FILE,
                "target": {
                    "group": "apps",
                    "version": "v1",
                    "kind": "Deployment",
                    "name": "training-operator",
                },
            }
        ],
    }


def overlay_directory(manifests_base: str) -> str:
    """Directory of the kustomize overlay to apply for ``manifests_base``.

    The default base uses the checked-in overlay. Another base gets a generated copy under
    ``.kubeai/overlays/training-operator-<hash>/`` (written once, content-addressed). A relative
    local base is taken relative to the repository root. Returns a path relative to the current
    directory (``infra.addons.repo_path``).
    """
    if manifests_base.rstrip("/") == DEFAULT_MANIFESTS_BASE:
        return repo_path(*OVERLAY_DIR)
    base = manifests_base
    if "://" not in base and not base.startswith("git@") and not os.path.isabs(base):
        base = str(REPO_ROOT / base)
    kustomization = yaml.safe_dump(overlay_kustomization(base), sort_keys=False)
    patch = REPO_ROOT.joinpath(*OVERLAY_DIR, PATCH_FILE).read_text(encoding="utf-8")
    digest = hashlib.sha256((kustomization + patch).encode()).hexdigest()[:12]
    target = GENERATED_ROOT / f"training-operator-{digest}"
    if not (target / "kustomization.yaml").exists():
        target.mkdir(parents=True, exist_ok=True)
        (target / PATCH_FILE).write_text(patch, encoding="utf-8")
        tmp = target / "kustomization.yaml.tmp"
        tmp.write_text(kustomization, encoding="utf-8")
        tmp.replace(target / "kustomization.yaml")
    try:
        return os.path.relpath(target)
    except ValueError:  # another drive (Windows)
        return str(target)


@dataclass(frozen=True)
class TrainingOperatorArgs:
    """Inputs of ``TrainingOperator``.

    ``volcano`` is the Volcano add-on (its PodGroup CRD must exist before the operator starts);
    ``None`` is refused because the overlay always sets ``--gang-scheduler-name=volcano``.
    """

    config: TrainingOperatorAddon
    volcano: pulumi.Resource | None = field(default=None)

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on, a missing Volcano or an empty base."""
        if not self.config.enabled:
            raise ValueError("the training operator is disabled; do not build it")
        if self.volcano is None:
            raise ValueError(
                "the training operator runs with --gang-scheduler-name=volcano and needs Volcano "
                "(kubeai:addons.volcano.enabled)"
            )
        if not self.config.manifests_base.strip():
            raise ValueError("kubeai:addons.trainingOperator.manifestsBase must not be empty")


class TrainingOperator(pulumi.ComponentResource):
    """The operator's kustomize overlay, applied after Volcano and retained on delete.

    Attributes: ``namespace`` (``kubeflow``), ``directory`` (the overlay path applied),
    ``gang_scheduler`` (``volcano``) and ``manifests`` (the kustomize Directory resource).
    """

    namespace: pulumi.Output[str]
    directory: pulumi.Output[str]
    gang_scheduler: pulumi.Output[str]

    def __init__(
        self, name: str, args: TrainingOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:TrainingOperator", name, None, opts)
        directory = overlay_directory(args.config.manifests_base)
        depends_on = [args.volcano] if args.volcano is not None else []
        self.manifests = k8s.kustomize.v2.Directory(
            f"{name}-manifests",
            directory=directory,
            opts=crd_installer_options(self, depends_on=depends_on),
        )
        self.namespace = pulumi.Output.from_input(NAMESPACE)
        self.directory = pulumi.Output.from_input(directory)
        self.gang_scheduler = pulumi.Output.from_input("volcano")
        self.register_outputs(
            {
                "namespace": self.namespace,
                "directory": self.directory,
                "gangScheduler": self.gang_scheduler,
            }
        )
