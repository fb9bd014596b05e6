"""Volcano batch scheduler (gang scheduling, queues, fair share, preemption and reclaim).

Installed with the upstream chart ``volcano`` at ``versions.VOLCANO`` (volcano-sh/volcano v1.15.1,
``installer/helm/chart/volcano``). Values we set, all read from that chart's ``values.yaml`` and
``templates/scheduler.yaml`` at that tag:

* ``custom.scheduler_config_override`` — the whole ``volcano-scheduler.conf``
  (``scheduler_config``): actions ``allocate, preempt, reclaim, backfill``; tier 1 ``priority``,
  ``gang``, ``conformance``; tier 2 ``drf``, ``predicates``, the queue plugin, ``nodeorder``,
  ``binpack``. The queue plugin is ``kubeai:addons.volcano.queuePolicy``: ``proportion``
  (default; weight, capability, guarantee) or ``capacity`` (deserved, capability, guarantee),
  never both (they conflict); either makes ``reclaim`` work across queues. Team stacks are
  refused the Queue keys the chosen plugin never reads (``infra.config.Queue``).
* ``custom.enabled_admissions`` — the chart default plus ``/podgroups/mutate``, the webhook that
  rewrites a PodGroup in queue ``default`` to its namespace's ``scheduling.volcano.sh/queue-name``
  annotation, so jobs of a team land in the team's Queue without naming it.
* ``basic.image_registry`` and ``basic.image_pull_secret`` from ``kubeai:images`` (mirror,
  pull secret; ``infra.images.volcano_image_values``).
* ``custom.scheduler_replicas``, ``custom.controller_replicas`` and
  ``custom.leader_elect_enable`` (required as soon as a component runs more than one replica).

The chart installs the CRDs as templates, so uninstalling the release would delete them: the
Release is retained on delete (``infra.addons`` module docstring).

``kubeai:addons.volcano.values`` is merged over these values (``release_values``,
``infra.addons.values``); the keys above other than the admissions' defaults, and
``custom.scheduler_name``, are the program's (``PROTECTED_VALUES``), and so are the switches of
the components they configure (``custom.{scheduler,controller,admission}_enable``).

Why there is no ``enqueue`` action (GPU pools that scale from zero)
-------------------------------------------------------------------
The job controllers create no pod for a gang whose PodGroup is still ``Pending``: the training
operator waits while ``status.phase`` is empty or ``Pending`` (kubeflow/trainer v1.9.4
``pkg/controller.v1/control/podgroup_control.go`` ``VolcanoControl.DelayPodCreationDueToPodGroup``,
used in ``pkg/controller.v1/common/job.go``), and so does vc-controller for Volcano Jobs
(v1.15.1 ``pkg/controllers/job/job_controller_actions.go``, ``syncTask`` only once the phase is
past ``Pending``). The cluster autoscaler acts on unschedulable *pods*, so a gang that never leaves
``Pending`` never scales a GPU pool up.

With the ``enqueue`` action, a PodGroup leaves ``Pending`` only if every queue plugin's
``JobEnqueueableFn`` permits (v1.15.1 ``pkg/scheduler/actions/enqueue/enqueue.go``,
``framework/session_plugins.go`` ``JobEnqueueable``). ``proportion`` and ``capacity`` compare the
gang's ``minResources`` (the training operator always sets them, ``calcPGMinResources``) with the
queue's ``realCapability`` = (cluster total - all guarantees) + own guarantee, capped by
capability (``plugins/proportion/proportion.go`` ``OnSessionOpen``, ``plugins/capacity/capacity.go``
``buildQueueAttrs``). The cluster total is the sum of the *existing* nodes' allocatable: with the
GPU pools at 0 nodes it holds no ``nvidia.com/gpu``, so a GPU gang is rejected ("queue resource
quota insufficient") in every session, forever. The ``overcommit`` plugin would not help: its
idle = total x ``overcommit-factor`` - used is 0 GPUs for any factor
(``plugins/overcommit/overcommit.go``), and it is one more veto.

So the action list leaves ``enqueue`` out. Then ``allocate`` moves every ``Pending`` PodGroup to
``Inqueue`` itself ("If not config enqueue action, change Pending pg into Inqueue state",
``pkg/scheduler/actions/allocate/allocate.go`` ``buildAllocateContext``) and the session writes
the phase back (``framework/job_updater.go``); the operator creates the pods, Volcano leaves them
``Pending`` with ``PodScheduled=False``/``Unschedulable`` (``cache/cache.go``
``taskUnschedulable``), which is what the cluster autoscaler scales up for. The queue's limits
still hold where it matters, at allocation: ``AllocatableFn`` of either plugin binds no task past
the queue's share or capability. What is given up is enqueue's admission control: pods of a gang
beyond its queue's capability exist and wait, and count as autoscaler demand (a node added for
them idles until the queue has room, then the autoscaler removes it). The team namespace's
ResourceQuota (``kubeai:quota``, required >= the queue capability) caps how many pods a team can
create at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra import versions
from infra.addons import (
    ADDON_TIMEOUT_S,
    chart_args,
    check_dns_label,
    crd_installer_options,
    create_namespace,
    release_settings,
)
from infra.addons.values import KeyPath, ReleaseValues
from infra.config import ImageSettings, QueuePolicy, VolcanoAddon
from infra.images import volcano_image_values

#: Scheduler actions, in the order a session runs them (pkg/scheduler/actions at v1.15.1); no
#: ``enqueue``: see the module docstring (GPU pools that scale from zero).
SCHEDULER_ACTIONS = ("allocate", "preempt", "reclaim", "backfill")

#: Plugin tiers; ``enablePreemptable: false`` on gang and drf as in the chart's default policy
#: (installer/helm/chart/volcano/config/volcano-scheduler.conf), so preemption victims are
#: chosen by priority and queue shares, not by gang minimums or DRF dominance. ``QUEUE_PLUGIN``
#: marks where the queue plugin (``kubeai:addons.volcano.queuePolicy``) goes.
QUEUE_PLUGIN = "queuePolicy"
SCHEDULER_TIERS: tuple[tuple[dict[str, Any], ...], ...] = (
    (
        {"name": "priority"},
        {"name": "gang", "enablePreemptable": False},
        {"name": "conformance"},
    ),
    (
        {"name": "drf", "enablePreemptable": False},
        {"name": "predicates"},
        {"name": QUEUE_PLUGIN},
        {"name": "nodeorder"},
        {"name": "binpack"},
    ),
)

#: ``custom.enabled_admissions`` default of the v1.15.1 chart (values.yaml).
DEFAULT_ADMISSIONS = (
    "/jobs/mutate",
    "/jobs/validate",
    "/podgroups/validate",
    "/queues/mutate",
    "/queues/validate",
    "/hypernodes/validate",
    "/cronjobs/validate",
)
#: The admission we add: namespace queue annotation -> PodGroup queue.
PODGROUP_MUTATE = "/podgroups/mutate"

#: Name the scheduler registers (``--scheduler-name`` default, cmd/scheduler/app/options).
SCHEDULER_NAME = "volcano"


def scheduler_config(policy: QueuePolicy = "proportion") -> str:
    """The ``volcano-scheduler.conf`` YAML text: ``SCHEDULER_ACTIONS`` and ``SCHEDULER_TIERS``
    with the queue plugin ``policy`` (``proportion`` or ``capacity``) in place of
    ``QUEUE_PLUGIN``. Raises ``ValueError`` for another policy."""
    if policy not in ("proportion", "capacity"):
        raise ValueError(f"queue policy must be proportion or capacity, got {policy!r}")

    def plugin(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "name": policy} if entry["name"] == QUEUE_PLUGIN else dict(entry)

    document = {
        "actions": ", ".join(SCHEDULER_ACTIONS),
        "tiers": [{"plugins": [plugin(p) for p in tier]} for tier in SCHEDULER_TIERS],
    }
    return yaml.safe_dump(document, sort_keys=False)


def volcano_values(config: VolcanoAddon, images: ImageSettings | None = None) -> dict[str, Any]:
    """Values of the ``volcano`` chart for ``kubeai:addons.volcano`` (keys in module docstring)
    and ``kubeai:images`` (``basic.image_registry``/``image_pull_secret``,
    ``infra.images.volcano_image_values``)."""
    return {
        **volcano_image_values(images or ImageSettings()),
        "custom": {
            "scheduler_config_override": scheduler_config(config.queue_policy),
            "enabled_admissions": ",".join((*DEFAULT_ADMISSIONS, PODGROUP_MUTATE)),
            "scheduler_replicas": config.scheduler_replicas,
            "controller_replicas": config.controller_replicas,
            "leader_elect_enable": max(config.scheduler_replicas, config.controller_replicas) > 1,
        },
    }


@dataclass(frozen=True)
class VolcanoArgs:
    """Inputs of ``Volcano``: the add-on config and the namespace it is installed into."""

    config: VolcanoAddon
    namespace: str = "volcano-system"
    images: ImageSettings = field(default_factory=ImageSettings)

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on or a bad namespace name."""
        if not self.config.enabled:
            raise ValueError("Volcano is disabled (kubeai:addons.volcano.enabled); do not build it")
        check_dns_label(self.namespace, "Volcano namespace")


#: Values ``kubeai:addons.volcano.values`` may not set (``infra.addons.values``), with why.
PROTECTED_VALUES: dict[KeyPath, str] = {
    ("custom", "scheduler_config_override"): (
        "the scheduler policy: the one queue plugin of kubeai:addons.volcano.queuePolicy, which "
        "team stacks check their Queue keys against, and no enqueue action, so GPU gangs get "
        "pods while GPU pools are at zero"
    ),
    ("custom", "enabled_admissions"): (
        "includes /podgroups/mutate, the webhook that puts a team's jobs in the team's Queue"
    ),
    ("custom", "scheduler_enable"): (
        "the scheduler is the one every team workload names (schedulerName 'volcano'): without "
        "it their pods stay Pending"
    ),
    ("custom", "controller_enable"): (
        "the controllers create the PodGroups and run the Jobs the team stacks submit"
    ),
    ("custom", "admission_enable"): (
        "the admission webhooks include /podgroups/mutate, which puts a team's jobs in the "
        "team's Queue"
    ),
    ("custom", "scheduler_name"): (
        "the platform exports schedulerName 'volcano' and every team workload names it"
    ),
    ("custom", "scheduler_replicas"): "set kubeai:addons.volcano.schedulerReplicas",
    ("custom", "controller_replicas"): "set kubeai:addons.volcano.controllerReplicas",
    ("custom", "leader_elect_enable"): (
        "follows the replicas (required as soon as a component runs more than one)"
    ),
}


def release_values(args: VolcanoArgs) -> ReleaseValues:
    """The Release's values: ``volcano_values`` with ``kubeai:addons.volcano.values`` over them
    (``infra.addons.values``; protected keys: ``PROTECTED_VALUES``)."""
    computed = volcano_values(args.config, args.images)
    return ReleaseValues.of(
        "volcano",
        versions.VOLCANO,
        args.config,
        computed,
        PROTECTED_VALUES,
        registry=args.images.registry,
    )


class Volcano(pulumi.ComponentResource):
    """Volcano in its own namespace: a Namespace and the retained ``volcano`` Release.

    Attributes: ``namespace`` (name), ``release_name``, ``scheduler_name`` (``volcano``) and
    ``release`` (the CRD-installing resource other resources depend on).
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str]
    scheduler_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: VolcanoArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__("kubeai:addons:Volcano", name, None, opts)
        ns = create_namespace(
            f"{name}-namespace", args.namespace, parent=self, pod_security="baseline"
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="volcano",
            namespace=ns.metadata.name,
            values=release_values(args).release_input(self),
            **release_settings(ADDON_TIMEOUT_S),
            opts=crd_installer_options(self),
            **chart_args(versions.VOLCANO, args.config.chart),
        )
        self.namespace = ns.metadata.name
        self.release_name = self.release.name.apply(lambda n: n or "volcano")
        self.scheduler_name = pulumi.Output.from_input(SCHEDULER_NAME)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "releaseName": self.release_name,
                "schedulerName": self.scheduler_name,
            }
        )
