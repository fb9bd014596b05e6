"""GPU enablement: the NVIDIA device plugin, the NVIDIA GPU Operator, or nothing.

``PlatformConfig.gpu_mode`` decides (``auto``: the device plugin where the nodes bring none, i.e.
EKS and existing clusters with GPU pools; nothing on GKE and ACK, whose GPU nodes run their own).

* ``devicePlugin``: chart ``nvidia-device-plugin`` at ``versions.NVIDIA_DEVICE_PLUGIN``
  (NVIDIA/k8s-device-plugin v0.20.0, ``deployments/helm/nvidia-device-plugin/values.yaml``;
  pinned in ``infra.versions``). Values: ``tolerations`` = ``kubeai:addons.gpu.tolerations``
  (they must tolerate every GPU pool's taints; config validation checks it) plus
  ``CriticalAddonsOnly``; ``nodeSelector`` ``nvidia.com/gpu.present: "true"`` (the label every
  GPU pool carries), on top of the chart's default node affinity which matches the same label.
* ``gpuOperator``: chart ``gpu-operator`` at ``versions.GPU_OPERATOR`` (NVIDIA/gpu-operator
  v26.7.0, ``deployments/gpu-operator/values.yaml``; UPSTREAM.md section 7). Values:
  ``daemonsets.tolerations`` (the operands' DaemonSets, device plugin included) from config,
  ``driver.enabled``/``toolkit.enabled`` only on ``existing`` clusters (EKS's NVIDIA AMI and the
  ACK images bring the driver and container toolkit). The operator places its operands with NFD
  labels, so no node selector is set. Its CRDs ship in the chart's ``crds/`` and the Release is
  retained on delete.
* ``none``: no resources.

Not on GKE: there our pools run GKE's managed driver and GKE's own device plugin
(``infra.node_pools.gke``), so ``devicePlugin`` and ``gpuOperator`` would put a second device
plugin on every GPU node. NVIDIA's GKE recipe needs pools without GKE's driver and device plugin
and a driver installed some other way; the platform does not provision that, so config refuses
both modes on GKE (``kubeai:addons.gpu.mode``, ``platform_problems``) and ``GpuEnablementArgs``
refuses them too.

The component depends on the GPU node pools (passed as ``depends_on``), so the DaemonSets are
created once the pools exist.

``kubeai:addons.gpu.values`` is merged over the values of whichever chart the mode installs
(``release_values``, ``infra.addons.values``; checked against that chart, including the
``node-feature-discovery`` subchart's schema: key ``nfd`` in the device plugin chart, its alias,
``node-feature-discovery`` in the operator's). The tolerations, the device plugin's node
selector and affinity, and the device plugin switch (``devicePlugin.enabled``) are the program's
(``DEVICE_PLUGIN_PROTECTED``, ``GPU_OPERATOR_PROTECTED``); the
operator's ``driver.enabled``/``toolkit.enabled`` may be overridden (a cluster whose nodes bring
their own driver), with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.addons import (
    GPU_TIMEOUT_S,
    chart_args,
    check_dns_label,
    crd_installer_options,
    create_namespace,
    release_settings,
)
from infra.addons.values import KeyPath, ReleaseValues, merge_values
from infra.config import GPU_PRESENT_LABEL, GpuAddon, ImageSettings, Toleration
from infra.images import chart_image_values

GpuMode = Literal["devicePlugin", "gpuOperator", "none"]

#: The GPU Operator's subchart that labels GPU nodes (its own image and pull-secret values).
NFD_SUBCHART = "node-feature-discovery"

#: Always tolerated by the device plugin (the chart's own default keeps it too).
CRITICAL_ADDONS_ONLY = {"key": "CriticalAddonsOnly", "operator": "Exists"}


def toleration_manifests(tolerations: list[Toleration]) -> list[dict[str, str]]:
    """Kubernetes ``tolerations[]`` entries for ``tolerations`` (order kept, duplicates dropped)."""
    out: list[dict[str, str]] = []
    for toleration in tolerations:
        manifest = toleration.manifest()
        if manifest not in out:
            out.append(manifest)
    return out


def device_plugin_values(config: GpuAddon, images: ImageSettings | None = None) -> dict[str, Any]:
    """Values of the ``nvidia-device-plugin`` chart (keys in module docstring)."""
    tolerations = toleration_manifests(config.tolerations)
    if CRITICAL_ADDONS_ONLY not in tolerations:
        tolerations.append(dict(CRITICAL_ADDONS_ONLY))
    values = {
        "tolerations": tolerations,
        "nodeSelector": {GPU_PRESENT_LABEL: "true"},
    }
    image_values = chart_image_values(versions.NVIDIA_DEVICE_PLUGIN, images or ImageSettings())
    return merge_values(image_values, values)


def gpu_operator_values(
    config: GpuAddon, *, provider: str, images: ImageSettings | None = None
) -> dict[str, Any]:
    """Values of the ``gpu-operator`` chart for a cluster of ``provider`` (module docstring)."""
    bring_own = provider == "existing"
    values = {
        "daemonsets": {"tolerations": toleration_manifests(config.tolerations)},
        "driver": {"enabled": bring_own},
        "toolkit": {"enabled": bring_own},
        "devicePlugin": {"enabled": True},
    }
    # The operator's and operands' imagePullSecrets are lists of names (ClusterPolicy), those
    # of the node-feature-discovery subchart pod-spec objects.
    image_values = chart_image_values(
        versions.GPU_OPERATOR,
        images or ImageSettings(),
        shape="names",
        subchart_shapes={NFD_SUBCHART: "objects"},
    )
    return merge_values(image_values, values)


@dataclass(frozen=True)
class GpuEnablementArgs:
    """Inputs of ``GpuEnablement``: resolved ``mode``, config, cluster ``provider``, namespace.

    ``namespace`` defaults to ``nvidia-device-plugin`` or ``gpu-operator`` by mode.
    """

    mode: GpuMode
    config: GpuAddon
    provider: str
    namespace: str | None = None
    images: ImageSettings = field(default_factory=ImageSettings)

    @property
    def effective_namespace(self) -> str:
        """The namespace the chart is installed into."""
        if self.namespace:
            return self.namespace
        return "gpu-operator" if self.mode == "gpuOperator" else "nvidia-device-plugin"

    def validate(self) -> None:
        """Raise ``ValueError`` for an unknown mode/provider, a device plugin of ours on GKE
        (module docstring), a bad namespace, or no tolerations."""
        if self.mode not in ("devicePlugin", "gpuOperator", "none"):
            raise ValueError(f"GPU mode must be devicePlugin, gpuOperator or none: {self.mode!r}")
        if self.provider not in ("existing", "eks", "gke", "ack"):
            raise ValueError(f"unknown cluster provider {self.provider!r}")
        if self.provider == "gke" and self.mode != "none":
            raise ValueError(
                f"GPU mode {self.mode} on gke would run a second device plugin beside GKE's "
                "(kubeai:addons.gpu.mode)"
            )
        check_dns_label(self.effective_namespace, "GPU add-on namespace")
        if self.mode != "none" and not self.config.tolerations:
            raise ValueError(
                "kubeai:addons.gpu.tolerations is empty: the GPU DaemonSets would never run on "
                "tainted GPU nodes"
            )
        if self.mode != "none" and self.effective_namespace == "default":
            raise ValueError("the device plugin chart refuses namespace 'default'")


_TOLERATIONS_WHY = (
    "set kubeai:addons.gpu.tolerations: the config checks they tolerate every GPU pool's taints "
    "(else the DaemonSets never run on GPU nodes)"
)
#: Values of the device plugin chart ``kubeai:addons.gpu.values`` may not set, with why.
DEVICE_PLUGIN_PROTECTED: dict[KeyPath, str] = {
    ("tolerations",): _TOLERATIONS_WHY,
    ("nodeSelector",): (
        f"the device plugin runs on the nodes labelled {GPU_PRESENT_LABEL}=true, the label "
        "every GPU pool carries"
    ),
    ("affinity",): (
        "the chart's node affinity admits the GPU nodes (nvidia.com/gpu.present=true among "
        "them); another one could keep the device plugin off the nodes nodeSelector chooses"
    ),
    ("devicePlugin", "enabled"): (
        "mode devicePlugin installs this chart for its device plugin: without it no node "
        "advertises nvidia.com/gpu (use mode none)"
    ),
}
#: Values of the GPU Operator chart ``kubeai:addons.gpu.values`` may not set, with why.
GPU_OPERATOR_PROTECTED: dict[KeyPath, str] = {
    ("daemonsets", "tolerations"): _TOLERATIONS_WHY,
    ("devicePlugin", "enabled"): (
        "mode gpuOperator runs the operator's device plugin: without it no node advertises "
        "nvidia.com/gpu and no GPU pod is ever scheduled (use mode devicePlugin or none)"
    ),
}


def release_values(args: GpuEnablementArgs) -> ReleaseValues:
    """The Release's values for ``args.mode``: the chart's computed values with
    ``kubeai:addons.gpu.values`` over them (``infra.addons.values``). Raises ``ValueError`` for
    mode ``none`` (no release)."""
    if args.mode == "devicePlugin":
        chart, computed = (
            versions.NVIDIA_DEVICE_PLUGIN,
            device_plugin_values(args.config, args.images),
        )
        protected = DEVICE_PLUGIN_PROTECTED
    elif args.mode == "gpuOperator":
        chart = versions.GPU_OPERATOR
        computed = gpu_operator_values(args.config, provider=args.provider, images=args.images)
        protected = GPU_OPERATOR_PROTECTED
    else:
        raise ValueError(f"GPU mode {args.mode!r} installs no chart")
    return ReleaseValues.of("gpu", chart, args.config, computed, protected, args.images.registry)


class GpuEnablement(pulumi.ComponentResource):
    """The device plugin or GPU Operator release (or nothing), after the GPU pools.

    Attributes: ``mode``, ``namespace`` (``None`` output for ``none``), ``release`` (or None).
    """

    mode: pulumi.Output[str]
    namespace: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: GpuEnablementArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:GpuEnablement", name, None, opts)
        self.release: k8s.helm.v3.Release | None = None
        namespace: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.mode != "none":
            ns = create_namespace(
                f"{name}-namespace",
                args.effective_namespace,
                parent=self,
                pod_security="privileged",
            )
            if args.mode == "devicePlugin":
                release_name, chart = "nvidia-device-plugin", versions.NVIDIA_DEVICE_PLUGIN
                release_opts = pulumi.ResourceOptions(parent=self)
            else:
                release_name, chart = "gpu-operator", versions.GPU_OPERATOR
                release_opts = crd_installer_options(self)
            self.release = k8s.helm.v3.Release(
                f"{name}-release",
                name=release_name,
                namespace=ns.metadata.name,
                values=release_values(args).release_input(self),
                **release_settings(GPU_TIMEOUT_S),
                opts=release_opts,
                **chart_args(chart, args.config.chart),
            )
            namespace = ns.metadata.name
        self.mode = pulumi.Output.from_input(args.mode)
        self.namespace = namespace
        self.register_outputs({"mode": self.mode, "namespace": self.namespace})
