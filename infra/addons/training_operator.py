"""Kubeflow training operator v1 (kubeflow.org/v1 PyTorchJob, TFJob, XGBoostJob, MPIJob, ...).

There is no upstream chart for v1 (UPSTREAM facts in ``infra.versions``). The program applies a
kustomize overlay of ours with ``pulumi_kubernetes.kustomize.v2.Directory``: its base is the
upstream ``manifests/overlays/standalone`` of ``versions.TRAINING_OPERATOR`` (kubeflow/trainer
v1.9.4), taken from the pinned, sha256-verified copy below the upstream root (``infra.upstream``;
a mirror folder in ``$KUBEAI_UPSTREAM_MIRROR`` serves air-gapped machines), and its patch
``infra/manifests/training-operator/gang-scheduler-volcano.yaml`` adds
``--gang-scheduler-name=volcano`` to the operator's command, so every job gets a Volcano PodGroup
(gang scheduling in the team's queue). The overlay itself is generated
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
from infra.config import TrainingOperatorAddon

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


def overlay_kustomization() -> dict[str, object]:
    """Our overlay: the verified upstream standalone overlay plus the gang-scheduler patch."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [
            upstream_resource(
                versions.TRAINING_OPERATOR.manifests, versions.TRAINING_OPERATOR_OVERLAY
            )
        ],
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


def overlay_directory() -> str:
    """Directory of the generated overlay to apply (``.kubeai/overlays/training-operator-*``).

    Raises ``infra.upstream.UpstreamError`` when the pinned manifests cannot be had.
    """
    patch = (PATCH_DIR / PATCH_FILE).read_text(encoding="utf-8")
    return write_overlay("training-operator", overlay_kustomization(), {PATCH_FILE: patch})


@dataclass(frozen=True)
class TrainingOperatorArgs:
    """Inputs of ``TrainingOperator``.

    ``volcano`` is the Volcano add-on (its PodGroup CRD must exist before the operator starts);
    ``None`` is refused because the overlay always sets ``--gang-scheduler-name=volcano``.
    """

    config: TrainingOperatorAddon
    volcano: pulumi.Resource | None = field(default=None)

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
        directory = overlay_directory()
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
