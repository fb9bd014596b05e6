"""Namespace ownership: an admission policy that keeps a team stack from adopting a Namespace.

The Kubernetes provider creates objects with server-side apply, and an apply to an object that
already exists is an update of it: a team stack whose namespace existed already (made by hand,
by another tool, or by another team stack with the same team name) would silently take it over
and delete it on ``destroy``. Team stacks therefore mark the Namespaces they create with the
annotation ``kubeai.dev/stack: <project>/<stack>`` (``owner_annotation``), and the platform
installs a ValidatingAdmissionPolicy (``admissionregistration.k8s.io/v1``, GA since Kubernetes
1.30) that refuses any UPDATE of a Namespace setting that annotation to a value the Namespace did
not already carry. The stack's own updates keep the value and pass; updates that do not carry the
annotation (controllers, administrators) are not concerned. The refusal comes back through the
engine as the update's error, naming the namespace.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

#: The annotation a team stack puts on each Namespace it creates: ``<project>/<stack>``.
OWNER_ANNOTATION = "kubeai.dev/stack"
#: Name of the policy and of its binding.
POLICY_NAME = "kubeai-namespace-ownership"

_NEW = f"object.metadata.annotations['{OWNER_ANNOTATION}']"
_OLD = f"oldObject.metadata.annotations['{OWNER_ANNOTATION}']"
#: True when the update is allowed (CEL, evaluated by the apiserver).
RULE = (
    f"!has(object.metadata.annotations) || !('{OWNER_ANNOTATION}' in object.metadata.annotations)"
    f" || (has(oldObject.metadata.annotations) && '{OWNER_ANNOTATION}' in "
    f"oldObject.metadata.annotations && {_OLD} == {_NEW})"
)
MESSAGE = (
    f"'namespace ' + object.metadata.name + ' already exists and was not created by stack ' + "
    f"{_NEW} + ': a team stack never adopts a namespace (choose another team name, or remove "
    "the namespace first)'"
)


def owner_annotation() -> dict[str, str]:
    """``{OWNER_ANNOTATION: "<project>/<stack>"}`` of the running stack."""
    return {OWNER_ANNOTATION: f"{pulumi.get_project()}/{pulumi.get_stack()}"}


def policy_spec() -> dict[str, Any]:
    """The ValidatingAdmissionPolicy's ``spec``: UPDATE of ``namespaces`` checked by ``RULE``."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["UPDATE"],
                    "resources": ["namespaces"],
                }
            ]
        },
        "validations": [{"expression": RULE, "messageExpression": MESSAGE, "reason": "Forbidden"}],
    }


class NamespaceOwnership(pulumi.ComponentResource):
    """The policy and its binding (``validationActions: [Deny]``), cluster-wide.

    Attributes: ``policy`` and ``binding`` (the two resources).
    """

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("kubeai:addons:NamespaceOwnership", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata={"name": POLICY_NAME},
            spec=policy_spec(),
            opts=child,
        )
        self.binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata={"name": POLICY_NAME},
            spec={"policyName": POLICY_NAME, "validationActions": ["Deny"]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs({})
