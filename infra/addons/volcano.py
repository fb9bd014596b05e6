"""Volcano batch scheduler (gang scheduling, queues, fair share, preemption and reclaim).

Installed with the upstream chart ``volcano`` at ``versions.VOLCANO`` (volcano-sh/volcano v1.15.1,
``installer/helm/chart/volcano``). Values we set, all read from that chart's ``values.yaml`` and
``templates/scheduler.yaml`` at that tag:

* ``custom.scheduler_config_override`` — the whole ``volcano-scheduler.conf``: actions
  ``enqueue, allocate, preempt, reclaim, backfill``; tier 1 ``priority``, ``gang``,
  ``conformance``; tier 2 ``drf``, ``predicates``, ``proportion``, ``nodeorder``, ``binpack``.
  ``proportion`` (not ``capacity``: the two conflict) turns each team Queue's weight, capability,
  deserved and guarantee into shares and makes ``reclaim`` work across queues.
* ``custom.enabled_admissions`` — the chart default plus ``/podgroups/mutate``, the webhook that
  rewrites a PodGroup in queue ``default`` to its namespace's ``scheduling.volcano.sh/queue-name``
  annotation, so jobs of a team land in the team's Queue without naming it.
* ``custom.scheduler_replicas``, ``custom.controller_replicas`` and
  ``custom.leader_elect_enable`` (required as soon as a component runs more than one replica).

The chart installs the CRDs as templates, so uninstalling the release would delete them: the
Release is retained on delete (``infra.addons`` module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from infra.config import VolcanoAddon

#: Scheduler actions, in the order a session runs them (pkg/scheduler/actions at v1.15.1).
SCHEDULER_ACTIONS = ("enqueue", "allocate", "preempt", "reclaim", "backfill")

#: Plugin tiers; ``enablePreemptable: false`` on gang and drf as in the chart's default policy
#: (installer/helm/chart/volcano/config/volcano-scheduler.conf), so preemption victims are
#: chosen by priority and queue shares, not by gang minimums or DRF dominance.
SCHEDULER_TIERS: tuple[tuple[dict[str, Any], ...], ...] = (
    (
        {"name": "priority"},
        {"name": "gang", "enablePreemptable": False},
        {"name": "conformance"},
    ),
    (
        {"name": "drf", "enablePreemptable": False},
        {"name": "predicates"},
        {"name": "proportion"},
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


def scheduler_config() -> str:
    """The ``volcano-scheduler.conf`` YAML text (actions + plugin tiers above)."""
    document = {
        "actions": ", ".join(SCHEDULER_ACTIONS),
        "tiers": [{"plugins": [dict(plugin) for plugin in tier]} for tier in SCHEDULER_TIERS],
    }
    return yaml.safe_dump(document, sort_keys=False)


def volcano_values(config: VolcanoAddon) -> dict[str, Any]:
    """Values of the ``volcano`` chart for ``kubeai:addons.volcano`` (keys in module docstring)."""
    return {
        "custom": {
            "scheduler_config_override": scheduler_config(),
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

    def validate(self) -> None:
        """Raise ``ValueError`` for a disabled add-on or a bad namespace name."""
        if not self.config.enabled:
            raise ValueError("Volcano is disabled (kubeai:addons.volcano.enabled); do not build it")
        check_dns_label(self.namespace, "Volcano namespace")


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
            values=volcano_values(args.config),
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
