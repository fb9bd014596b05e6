"""Kubeflow training operator v1 (kubeflow.org/v1 PyTorchJob, TFJob, XGBoostJob, MPIJob, ...).

There is no upstream chart for v1 (UPSTREAM facts in ``infra.versions``). The program applies a
kustomize overlay of ours with ``pulumi_kubernetes.kustomize.v2.Directory``: its base is the
upstream ``manifests/overlays/standalone`` of ``versions.TRAINING_OPERATOR`` (kubeflow/trainer
v1.9.4), taken from the pinned, sha256-verified copy below the upstream root (``infra.upstream``;
a mirror folder in ``$KUBEAI_UPSTREAM_MIRROR`` serves air-gapped machines), and its patch
``infra/manifests/training-operator/gang-scheduler-volcano.yaml`` adds
``--gang-scheduler-name=volcano`` to the operator's command, so every job gets a Volcano PodGroup
(gang scheduling in the team's queue). With ``kubeai:images`` the overlay also maps the
operator image to the mirror (kustomize ``images``) and patches the Deployment's
``imagePullSecrets``. The overlay itself is generated
(``infra.addons.kustomize``) because the upstream root is a per-machine folder.

Ordering: with that flag the operator checks at start that the PodGroup CRD exists, so the
Directory depends on the Volcano add-on. The overlay installs the kubeflow.org CRDs, so it is
registered as a CRD installer (retained on delete, ``infra.addons``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from infra import versions
from infra.addons import REPO_ROOT, controller_filled_secrets, crd_installer_options
from infra.addons.kustomize import Directory, upstream_resource, write_overlay
from infra.config import ImageSettings, TrainingOperatorAddon
from infra.images import kustomize_images, pull_secret_patch

#: Our patch files (relative to the repository root).
PATCH_DIR = REPO_ROOT / "infra" / "manifests" / "training-operator"
#: The strategic merge patch inside it.
PATCH_FILE = "gang-scheduler-volcano.yaml"
#: Namespace the standalone overlay installs into.
NAMESPACE = "kubeflow"
#: The Secret the upstream overlay generates empty and the operator fills with its webhook
#: certificate (manifests/overlays/standalone ``secretGenerator``).
WEBHOOK_CERT_SECRET = "training-operator-webhook-cert"  # noqa: S105 - a Secret name
#: Gang scheduler flag the patch adds (cmd/training-operator.v1/main.go).
GANG_SCHEDULER_FLAG = "--gang-scheduler-name=volcano"


def overlay_kustomization(images: ImageSettings | None = None) -> dict[str, object]:
    """Our overlay: the verified upstream standalone overlay plus the gang-scheduler patch, and
    for ``kubeai:images`` the mirrored operator image and a pull-secret patch
    (``infra.images.kustomize_images``/``pull_secret_patch``)."""
    settings = images or ImageSettings()
    repository = versions.TRAINING_OPERATOR_IMAGE.rsplit(":", 1)[0]
    patches: list[dict[str, object]] = [
        {
            "path": PATCH_FILE,
            "target": {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "name": "training-operator",
            },
        }
    ]
    if secret_patch := pull_secret_patch(settings):
        patches.append(secret_patch[0])
    kustomization: dict[str, object] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [
            upstream_resource(
                versions.TRAINING_OPERATOR.manifests, versions.TRAINING_OPERATOR_OVERLAY
            )
        ],
        "patches": patches,
    }
    if entries := kustomize_images([repository], settings):
        kustomization["images"] = entries
    return kustomization


def overlay_directory(images: ImageSettings | None = None) -> str:
    """Directory of the generated overlay to apply (``.kubeai/overlays/training-operator-*``).

    Raises ``infra.upstream.UpstreamError`` when the pinned manifests cannot be had.
    """
    settings = images or ImageSettings()
    files = {PATCH_FILE: (PATCH_DIR / PATCH_FILE).read_text(encoding="utf-8")}
    if secret_patch := pull_secret_patch(settings):
        files[secret_patch[0]["path"]] = secret_patch[1]
    return write_overlay("training-operator", overlay_kustomization(settings), files)


@dataclass(frozen=True)
class TrainingOperatorArgs:
    """Inputs of ``TrainingOperator``.

    ``volcano`` is the Volcano add-on (its PodGroup CRD must exist before the operator starts);
    ``None`` is refused because the overlay always sets ``--gang-scheduler-name=volcano``.
    """

    config: TrainingOperatorAddon
    volcano: pulumi.Resource | None = field(default=None)
    images: ImageSettings = field(default_factory=ImageSettings)

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on or a missing Volcano."""
        if not self.config.enabled:
            raise ValueError("the training operator is disabled; do not build it")
        if self.volcano is None:
            raise ValueError(
                "the training operator runs with --gang-scheduler-name=volcano and needs Volcano "
                "(kubeai:addons.volcano.enabled)"
            )


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
        directory = overlay_directory(args.images)
        depends_on = [args.volcano] if args.volcano is not None else []
        self.manifests = Directory(
            f"{name}-manifests",
            directory=directory,
            opts=pulumi.ResourceOptions.merge(
                crd_installer_options(self, depends_on=depends_on),
                pulumi.ResourceOptions(transforms=[controller_filled_secrets(WEBHOOK_CERT_SECRET)]),
            ),
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
