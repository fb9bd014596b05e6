"""Restructuring keeps every URN: each resource of the example stacks answers to its earlier URN.

``data/urns-before.json`` lists the URNs of every example stack as the program declared them
before the platform became a component, ``Glue`` became ``ModelRegistry`` and ``infra/clusters``
became ``infra/node_pools`` (recorded under mocks, secrets set, from main at 3c0be47). Each must
still be a resource's URN or one of its aliases (``tests.infra.urns``), so ``pulumi up`` on an
existing stack moves nothing and replaces nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import SECRET_KEYS, TeamConfig
from infra.mocks import ProgramRun, record_stack
from infra.render import load_stack, platform_for
from tests.infra import urns

STACKS = Path(__file__).resolve().parents[2] / "stacks"
BEFORE = json.loads((Path(__file__).parent / "data" / "urns-before.json").read_text())
#: Resources the restructuring added (new URNs without an earlier one), and those issue 7 added:
#: a team's Fluid cache namespace, its LimitRange and the cached Dataset the team's one references;
#: and issue 9's namespace ownership policy (``infra.addons.namespace_ownership``), explicit
#: providers (``infra.providers``: every stack had used default providers but ``existing``),
#: node autoscaling (``infra.addons.autoscaling``: the cluster-autoscaler and metrics-server
#: releases, ACK's autoscaler settings, EKS node-template tags) and the teams' NetworkPolicies
#: (``infra.network_policy``).
#: and issue 9's namespace ownership policy (``infra.addons.namespace_ownership``) and the
#: dataset credentials Secret of a team whose mounts' ``encryptOptions`` reference it.
ADDED = {
    "kubeai:platform:Platform",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:LimitRange",
    "kubernetes:data.fluid.io/v1alpha1:Dataset",
    "kubeai:addons:NamespaceOwnership",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    "pulumi:providers:kubernetes",
    "pulumi:providers:aws",
    "pulumi:providers:gcp",
    "pulumi:providers:alicloud",
    "kubeai:addons:NodeAutoscaling",
    "alicloud:cs/autoscalingConfig:AutoscalingConfig",
    "aws:autoscaling/tag:Tag",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:core/v1:Secret",
    # the team's training admission params (infra.policies.training)
    "kubernetes:core/v1:ConfigMap",
    # issue 11: the team's model-iteration pipeline and its retraining schedules (infra.pipelines)
    "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",
    "kubernetes:argoproj.io/v1alpha1:CronWorkflow",
}

#: Resources deliberately gone: the per-pool alicloud providers (the stack's one explicit
#: provider in ``ack.region`` replaced them, ``infra.providers``).
REMOVED = ("pulumi:providers:alicloud",)


def run_stack(name: str) -> ProgramRun:
    """The example stack ``name`` under mocks, every secret set (as the render does)."""
    config, _, _ = load_stack(name, STACKS)
    platform = platform_for(config, STACKS) if isinstance(config, TeamConfig) else None
    secrets = {key: f"<secret:{key}>" for key in sorted(SECRET_KEYS)}
    return record_stack(config, secrets=secrets, platform=platform, stack=name)


@pytest.mark.parametrize("stack", sorted(BEFORE))
def test_every_earlier_urn_is_kept(stack: str) -> None:
    run = run_stack(stack)
    answers = urns.urns(run, stack=stack)
    found: dict[str, list[str]] = {}
    for current, aliases in answers.items():
        for earlier in {current, *aliases} & set(BEFORE[stack]):
            found.setdefault(earlier, []).append(current)
    removed = {u for u in BEFORE[stack] if u.split("::")[2].endswith(REMOVED)}
    assert sorted(set(BEFORE[stack]) - set(found) - removed) == []  # nothing would be recreated
    assert {k: v for k, v in found.items() if len(v) > 1} == {}  # nor claimed twice
    claimed = {c for currents in found.values() for c in currents}
    new = {u for u in answers if u not in claimed}
    assert {u.split("::")[2].split("$")[-1] for u in new} <= ADDED


def test_the_platform_is_one_component(platform_run) -> None:
    run = platform_run("eks")
    (platform,) = run.of_type("kubeai:platform:Platform")
    top = {key for key, r in run.resources.items() if r.parent is None}
    assert top == {platform.key}
    assert ("kubeai:addons:ModelRegistry", "glue") in run.children(platform.key)
