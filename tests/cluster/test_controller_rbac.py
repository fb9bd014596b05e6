"""The lifecycle controller's rights on a real apiserver: exactly the contract, nothing more.

The kubeai-glue chart is rendered with helm (release ``kubeai-glue``, default scenario) into its
own namespace and every object of the controller (ServiceAccount, ClusterRole and binding, Lease
Role and binding, Deployment, Service, disruption budget, NetworkPolicy) is applied by
server-side apply: the apiserver admits them all. Then SubjectAccessReviews ask the apiserver's
RBAC authorizer what the controller's ServiceAccount may do: every right of
``tests.support.rbac.CONTROLLER_RULES`` in a team namespace and cluster-wide, its Lease in its
own namespace, and none of a list of things it must not do (Secrets, Pods, deletions, other
namespaces' Leases, RBAC escalation). Finally the account itself (impersonated) takes and renews
its Lease the way ``glue.controller``'s leader election does, and is refused another namespace's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from infra.controlplane.harness import ControlPlane
from tests.charts.support import chart_path, component
from tests.support.helm import HelmTools
from tests.support.kubeapi import (
    KubeApi,
    impersonating,
    message,
    service_account_may,
    service_account_user,
)
from tests.support.rbac import CONTROLLER_RULES, LEASE_VERBS

NAMESPACE = "ctlrbac-system"
"""Release namespace of the chart (the controller's own namespace)."""
TEAM_NAMESPACE = "ctlrbac-team"
"""A team namespace (carries the team label) where the controller works."""
RELEASE = "kubeai-glue"
CONTROLLER = "lifecycle-controller"

#: Requests the controller must never be allowed, as SubjectAccessReview attributes.
FORBIDDEN: tuple[dict[str, str], ...] = (
    {"verb": "list", "resource": "secrets"},
    {"verb": "get", "resource": "secrets", "namespace": TEAM_NAMESPACE},
    {"verb": "get", "resource": "secrets", "namespace": NAMESPACE},
    {"verb": "get", "resource": "configmaps", "namespace": TEAM_NAMESPACE},
    {"verb": "create", "resource": "pods", "namespace": TEAM_NAMESPACE},
    {"verb": "list", "resource": "pods"},
    {"verb": "create", "resource": "pods", "subresource": "exec", "namespace": TEAM_NAMESPACE},
    {"verb": "delete", "group": "batch", "resource": "jobs", "namespace": TEAM_NAMESPACE},
    {"verb": "create", "group": "batch", "resource": "jobs", "namespace": TEAM_NAMESPACE},
    {"verb": "update", "group": "batch", "resource": "jobs", "namespace": TEAM_NAMESPACE},
    {"verb": "delete", "group": "kubeflow.org", "resource": "pytorchjobs"},
    {"verb": "create", "group": "kubeflow.org", "resource": "pytorchjobs"},
    {"verb": "deletecollection", "group": "batch.volcano.sh", "resource": "jobs"},
    {"verb": "patch", "group": "data.fluid.io", "resource": "datasets"},
    {"verb": "delete", "group": "data.fluid.io", "resource": "datasets"},
    {"verb": "patch", "resource": "namespaces", "name": TEAM_NAMESPACE},
    {"verb": "create", "resource": "persistentvolumeclaims", "namespace": TEAM_NAMESPACE},
    {"verb": "delete", "resource": "events", "namespace": TEAM_NAMESPACE},
    {"verb": "list", "resource": "events"},
    {
        "verb": "create",
        "group": "coordination.k8s.io",
        "resource": "leases",
        "namespace": "default",
    },
    {"verb": "list", "group": "coordination.k8s.io", "resource": "leases", "namespace": NAMESPACE},
    {"verb": "watch", "group": "coordination.k8s.io", "resource": "leases"},
    {
        "verb": "delete",
        "group": "coordination.k8s.io",
        "resource": "leases",
        "namespace": NAMESPACE,
    },
    {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings"},
    {"verb": "escalate", "group": "rbac.authorization.k8s.io", "resource": "clusterroles"},
    {"verb": "impersonate", "resource": "serviceaccounts"},
    {"verb": "create", "group": "authentication.k8s.io", "resource": "tokenreviews"},
    {"verb": "create", "group": "apiextensions.k8s.io", "resource": "customresourcedefinitions"},
)


@dataclass(frozen=True)
class Installed:
    """The applied release: the admin client, the controller's account and Lease name."""

    admin: httpx.Client
    account: str
    lease: str


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane, helm_tools: HelmTools) -> Iterator[Installed]:
    """The controller's objects of the rendered chart, applied in their namespace."""
    objects = component(
        helm_tools.template(
            chart_path("kubeai-glue"),
            release=RELEASE,
            namespace=NAMESPACE,
            values=[chart_path("kubeai-glue") / "ci" / "default-values.yaml"],
        ),
        CONTROLLER,
    )
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": TEAM_NAMESPACE, "labels": {"kubeai.dev/team": "rbac"}},
        },
    ]
    with control_plane.client() as client:
        kube = KubeApi(client)
        applied = kube.apply_all([*namespaces, *objects])
        assert applied == len(namespaces) + len(objects)
        (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
        spec = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        yield Installed(client, spec["serviceAccountName"], env["KUBEAI_CONTROLLER_LEASE_NAME"])


def _may(installed: Installed, attributes: dict[str, str]) -> bool:
    return service_account_may(installed.admin, NAMESPACE, installed.account, attributes)


def test_controller_may_do_everything_the_contract_lists(installed: Installed) -> None:
    """Every (group, resource, verb) of the contract, in a team namespace and across all
    namespaces (namespaces themselves are cluster-scoped)."""
    refused = []
    for group, resource, verb in sorted(CONTROLLER_RULES):
        wheres = [""] if resource == "namespaces" else ["", TEAM_NAMESPACE]
        for where in wheres:
            attributes = {"verb": verb, "group": group, "resource": resource}
            if where:
                attributes["namespace"] = where
            if not _may(installed, attributes):
                refused.append(attributes)
    assert not refused, f"refused: {refused}"


def test_controller_holds_only_its_own_lease(installed: Installed) -> None:
    """Its Lease in its namespace: get, create and update; another Lease name: create only (a
    name cannot restrict create), no get or update; other namespaces: nothing."""
    lease = {"group": "coordination.k8s.io", "resource": "leases", "namespace": NAMESPACE}
    for verb in LEASE_VERBS:
        assert _may(installed, {**lease, "verb": verb, "name": installed.lease}), verb
    for verb in ("get", "update"):
        assert not _may(installed, {**lease, "verb": verb, "name": "someone-elses-lease"}), verb
    for verb in LEASE_VERBS:
        elsewhere = {**lease, "namespace": TEAM_NAMESPACE, "verb": verb, "name": installed.lease}
        assert not _may(installed, elsewhere), f"{verb} in {TEAM_NAMESPACE}"


@pytest.mark.parametrize(
    "attributes", FORBIDDEN, ids=lambda a: "-".join(str(v) for v in a.values())
)
def test_controller_may_not(installed: Installed, attributes: dict[str, str]) -> None:
    """None of these: no Secrets or ConfigMaps, no Pods, no creation or deletion of jobs, no
    writes to Datasets, namespaces or claims, no other Leases, no RBAC escalation, no
    impersonation, no TokenReview (the registry reviews tokens, not the controller)."""
    assert not _may(installed, attributes)


def test_controller_account_takes_and_renews_its_lease(
    control_plane: ControlPlane, installed: Installed
) -> None:
    """As its ServiceAccount (impersonated) the controller creates its Lease, reads it back and
    renews it with an update, as leader election does; a Lease in the team namespace is refused
    with 403."""
    user = service_account_user(NAMESPACE, installed.account)
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"]
    base = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": installed.lease, "namespace": NAMESPACE},
        "spec": {"holderIdentity": "controller-0", "leaseDurationSeconds": 15},
    }
    with impersonating(control_plane, user, groups=groups) as controller:
        created = controller.post(base, json=lease)
        assert created.status_code in (201, 409), message(created)
        current = controller.get(f"{base}/{installed.lease}")
        assert current.status_code == 200, message(current)
        body = current.json()
        body["spec"]["holderIdentity"] = "controller-1"
        renewed = controller.put(f"{base}/{installed.lease}", json=body)
        assert renewed.status_code == 200, message(renewed)
        assert renewed.json()["spec"]["holderIdentity"] == "controller-1"
        other = controller.post(
            f"/apis/coordination.k8s.io/v1/namespaces/{TEAM_NAMESPACE}/leases",
            json={**lease, "metadata": {"name": installed.lease, "namespace": TEAM_NAMESPACE}},
        )
        assert other.status_code == 403, message(other)
        listing = controller.get(base)
        assert listing.status_code == 403, message(listing)
