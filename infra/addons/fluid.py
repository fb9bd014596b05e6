"""Fluid dataset caching (Dataset + runtime -> a PVC named after the dataset).

Installed with the upstream chart ``fluid`` at ``versions.FLUID`` (fluid-cloudnative/fluid v1.0.8,
``charts/fluid/fluid``). Values we set:

* ``runtime.<engine>.enabled`` for every engine the chart knows (``alluxio``, ``jindo``,
  ``goosefs``, ``juicefs``, ``thin``, ``efc``, ``vineyard``): ``true`` for the engines in
  ``kubeai:addons.fluid.runtimes`` (their controllers run from the start), ``false`` for the rest
  (their controllers start on demand, scaled up by the dataset controller).
* ``csi.tolerations`` — ``[{operator: Exists}]``: the CSI node plugin (``csi-nodeplugin-fluid``
  DaemonSet, ``templates/csi/daemonset.yaml``) must run on every node a pod may mount a dataset
  on, GPU nodes with their ``nvidia.com/gpu=present:NoSchedule`` taint included. Set explicitly
  so a change of the chart default can never strand GPU nodes without the driver.
* images (``kubeai:images``, ``infra.images.chart_image_values``): every ``<x>imagePrefix`` of
  the chart (controllers, CSI, webhook, and the runtime images the controllers hand to the
  cache/FUSE pods they create through their ``*_IMAGE_ENV`` variables) points at the mirror, and
  ``image.imagePullSecrets`` (the controllers pass them on to runtime pods, ``IMAGE_PULL_SECRETS``).
* ``tolerations: []`` for the controllers (``dataset``, ``webhook``, ``fluidapp``,
  ``runtime.<engine>``) and the ``crdUpgrade`` hook: the chart defaults them to
  ``[{operator: Exists}]`` too, which lets the scheduler put these CPU pods on tainted GPU nodes
  (seen on the control plane of ``tests/cluster/test_stacks.py``); without tolerations they stay
  on CPU nodes.

Where the other Fluid pods get their tolerations (nothing to set at install time):

* FUSE pods: the runtime charts the controllers render (e.g. ``charts/alluxio/templates/fuse/
  daemonset.yaml``) give the FUSE DaemonSet ``tolerations: [{operator: Exists}]``, so FUSE runs on
  tainted GPU nodes.
* Cache worker/master pods: the runtime copies the Dataset's ``spec.tolerations`` onto them
  (``transformTolerations`` in ``pkg/ddc/<engine>/transform.go``); team stacks set the GPU
  toleration there (``infra.tenancy``) so caches can sit next to the GPU pods that read them.

The chart ships its CRDs in ``crds/`` (Helm never deletes those) and the Release is retained on
delete as well (``infra.addons`` module docstring).

``kubeai:addons.fluid.values`` is merged over these values (``release_values``,
``infra.addons.values``); ``namespace``, ``csi.tolerations``, ``runtime.<engine>.enabled`` and
the ``csi``/``webhook`` switches are the program's (``PROTECTED_VALUES``), the controllers'
tolerations may be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import versions
from infra.addons import (
    ADDON_TIMEOUT_S,
    chart_args,
    check_dns_label,
    crd_installer_options,
    create_namespace,
    release_settings,
)
from infra.addons.values import ANY_KEY, KeyPath, ReleaseValues, merge_values
from infra.config import FluidAddon, ImageSettings
from infra.images import chart_image_values

#: Runtime engines of the v1.0.8 chart (``runtime.<engine>`` in values.yaml).
ENGINES = ("alluxio", "jindo", "goosefs", "juicefs", "thin", "efc", "vineyard")

#: Chart parts besides ``runtime.<engine>`` whose pods are controllers (or a hook) that belong on
#: CPU nodes: their default ``tolerations: [{operator: Exists}]`` is replaced by none.
CONTROLLER_PARTS = ("dataset", "webhook", "fluidapp", "crdUpgrade")

#: Tolerations of the CSI node plugin: every taint, GPU pools included.
CSI_TOLERATIONS = ({"operator": "Exists"},)


def fluid_values(
    config: FluidAddon, *, namespace: str, images: ImageSettings | None = None
) -> dict[str, Any]:
    """Values of the ``fluid`` chart for ``kubeai:addons.fluid`` (keys in module docstring) and
    ``kubeai:images``."""
    enabled = set(config.runtimes)
    image_values = chart_image_values(versions.FLUID, images or ImageSettings())
    values: dict[str, Any] = {
        "namespace": namespace,
        "runtime": {
            engine: {"enabled": engine in enabled, "tolerations": []} for engine in ENGINES
        },
        "csi": {"tolerations": [dict(t) for t in CSI_TOLERATIONS]},
        **{part: {"tolerations": []} for part in CONTROLLER_PARTS},
    }
    return merge_values(image_values, values)


@dataclass(frozen=True)
class FluidArgs:
    """Inputs of ``Fluid``: the add-on config and its namespace (``fluid-system`` upstream)."""

    config: FluidAddon
    namespace: str = "fluid-system"
    images: ImageSettings = field(default_factory=ImageSettings)

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on, a bad namespace or an unknown engine."""
        if not self.config.enabled:
            raise ValueError("Fluid is disabled (kubeai:addons.fluid.enabled); do not build it")
        check_dns_label(self.namespace, "Fluid namespace")
        unknown = sorted(set(self.config.runtimes) - set(ENGINES))
        if unknown:
            raise ValueError(f"unknown Fluid runtime engine(s) {unknown}; known: {list(ENGINES)}")


#: Values ``kubeai:addons.fluid.values`` may not set (``infra.addons.values``), with why.
PROTECTED_VALUES: dict[KeyPath, str] = {
    ("namespace",): (
        "the chart puts its objects in this namespace; it must be the add-on's Namespace, "
        "the one the Release is installed into"
    ),
    ("csi", "tolerations"): (
        "the CSI node plugin must run on every node, tainted GPU nodes included, or datasets "
        "never mount next to the GPU pods that read them"
    ),
    ("csi", "enabled"): (
        "the CSI node plugin mounts every dataset into the pods that read it (its tolerations "
        "are protected for the same reason)"
    ),
    ("webhook", "enabled"): (
        "the webhook schedules pods that use a dataset next to its cache and injects the FUSE "
        "sidecars where the CSI plugin cannot mount"
    ),
    ("runtime", ANY_KEY, "enabled"): "set kubeai:addons.fluid.runtimes",
}


def release_values(args: FluidArgs) -> ReleaseValues:
    """The Release's values: ``fluid_values`` with ``kubeai:addons.fluid.values`` over them
    (``infra.addons.values``; protected keys: ``PROTECTED_VALUES``)."""
    computed = fluid_values(args.config, namespace=args.namespace, images=args.images)
    return ReleaseValues.of(
        "fluid", versions.FLUID, args.config, computed, PROTECTED_VALUES, args.images.registry
    )


class Fluid(pulumi.ComponentResource):
    """Fluid in its own (privileged: CSI and FUSE pods) namespace: Namespace + retained Release.

    Attributes: ``namespace``, ``release_name``, ``runtimes`` (enabled engines) and ``release``.
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str]
    runtimes: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: FluidArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:Fluid", name, None, opts)
        ns = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="privileged"
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="fluid",
            namespace=ns.metadata.name,
            values=release_values(args).release_input(self),
            **release_settings(ADDON_TIMEOUT_S),
            opts=crd_installer_options(self),
            **chart_args(versions.FLUID, args.config.chart),
        )
        self.namespace = ns.metadata.name
        self.release_name = self.release.name.apply(lambda n: n or "fluid")
        self.runtimes = pulumi.Output.from_input(list(args.config.runtimes))
        self.register_outputs(
            {
                "namespace": self.namespace,
                "releaseName": self.release_name,
                "runtimes": self.runtimes,
            }
        )
