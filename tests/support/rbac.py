"""The lifecycle controller's Kubernetes rights as issue 11 lists them (the contract the
kubeai-glue chart grants), shared by the chart tests (the rendered rules) and the cluster test
(what the apiserver's RBAC then allows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: A right: (API group, resource, verb); the core group is "".
Right = tuple[str, str, str]

_WATCH = ("get", "list", "watch")
_JOBS = (
    *(("kubeflow.org", r) for r in ("pytorchjobs", "tfjobs", "xgboostjobs", "mpijobs")),
    ("batch", "jobs"),
    ("batch.volcano.sh", "jobs"),
)
_READ_ONLY = (("data.fluid.io", "datasets"), ("", "namespaces"), ("", "persistentvolumeclaims"))

#: Cluster-wide rights of the controller (its ClusterRole).
CONTROLLER_RULES: frozenset[Right] = frozenset(
    {(g, r, v) for g, r in _JOBS for v in (*_WATCH, "patch")}
    | {(g, r, v) for g, r in _READ_ONLY for v in _WATCH}
    | {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
)
#: The rule of its Role (in its own namespace) on the Lease it holds; ``create`` comes apart, as
#: Kubernetes cannot restrict ``create`` to a name.
CONTROLLER_LEASE_RULE: dict[str, list[str]] = {
    "apiGroups": ["coordination.k8s.io"],
    "resources": ["leases"],
    "verbs": ["get", "update"],
}
#: Every lease verb of the contract, in the controller's namespace only.
LEASE_VERBS = ("get", "create", "update")


def rule_grants(rule: dict[str, Any]) -> Iterator[Right]:
    """Every (group, resource, verb) of one RBAC ``PolicyRule``."""
    for group in rule.get("apiGroups", []):
        for resource in rule.get("resources", []):
            for verb in rule.get("verbs", []):
                yield group, resource, verb
