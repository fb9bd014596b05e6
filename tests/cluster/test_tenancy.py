"""Tenancy on a real apiserver, checked with impersonated requests (never by reading RBAC objects).

Installed first, as the product would (server-side apply, in the program's order): the pinned
upstream CRDs (Volcano, Fluid, training operator, Argo; ``infra.upstream.ensure("crds")``), then
the objects ``infra.render.render_stack`` renders for the platform stack ``prod-eks`` and for two
team stacks on it, ``team-search-prod`` and ``team-cv-prod``. No example platform holds two teams
(cv names prod-ack), so team-cv-prod is rendered from a copy of its stack file whose only change
is ``kubeai:platformStack: prod-eks``.

Left out, because tenancy does not depend on them: declared resources (upstream Helm releases,
kustomize directories, cloud node pools; their content is upstream and needs no RBAC of ours), and
the workload controllers our charts render (Deployments, StatefulSets, DaemonSets), whose pods
would only compete for the session's KWOK GPU capacity with the scheduling tests.

Every check is a real request as the team's identity (``Impersonate-User``/``Impersonate-Group``
from the team stack's ``kubeai:team.groups``, or a service account's own token), with
``dryRun=All`` for anything that would change the cluster. Each refusal is paired with the same
request made by the admin, which must be accepted, so a 403 proves authorization refused a
well-formed request rather than a typo in the test.

Checked, for both teams: admins and members create PyTorchJob, Dataset and Workflow in their
namespace; no group of theirs creates them in the other team's namespace, viewers not even in
their own; no group changes or deletes the team's ResourceQuota, LimitRange, Queue or Namespace
(Pod Security labels); no group lists or reads Secrets in ``kube-system`` or any platform
namespace; neither groups nor the ``kubeai-training``/``kubeai-workflow`` service accounts create
RoleBindings to ``cluster-admin``/``admin``, a Role with rights they lack, or a
ClusterRoleBinding; the service accounts (with their own tokens) impersonate no one; the training
service account reads nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra import upstream
from infra.addons.argo import WORKFLOW_SERVICE_ACCOUNT
from infra.config import TeamConfig
from infra.controlplane.harness import ControlPlane
from infra.render import load_stack, render_stack
from infra.tenancy import TRAINING_SERVICE_ACCOUNT, dataset_manifest
from tests.support.helm import REPO_ROOT
from tests.support.kubeapi import (
    DRY_RUN,
    KubeApi,
    bearer,
    impersonating,
    message,
    service_account_user,
    token_request,
)

STACKS_DIR = REPO_ROOT / "stacks"
PLATFORM = "prod-eks"
TEAM_STACKS = ("team-search-prod", "team-cv-prod")
#: Kinds of our charts' output left out of the install (module docstring).
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
#: Namespaces every cluster has, besides the platform stack's own.
SYSTEM_NAMESPACES = ("kube-system",)
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"


def team_config(stack: str) -> TeamConfig:
    """The parsed team stack file (the source of every group and namespace name here)."""
    config, _, _ = load_stack(stack, STACKS_DIR)
    assert isinstance(config, TeamConfig), stack
    return config


TEAMS = {stack: team_config(stack) for stack in TEAM_STACKS}


def role_groups(config: TeamConfig) -> dict[str, list[str]]:
    """The team's identity-provider groups by role, only roles that have groups."""
    groups = config.team.groups
    by_role = {"admins": groups.admins, "members": groups.members, "viewers": groups.viewers}
    return {role: names for role, names in by_role.items() if names}


def identities(*roles: str) -> list[Any]:
    """pytest params ``(stack, role)`` for every team whose stack gives ``roles`` groups."""
    return [
        pytest.param(stack, role, id=f"{config.team.name}-{role}")
        for stack, config in TEAMS.items()
        for role in roles
        if role in role_groups(config)
    ]


def other_team(stack: str) -> TeamConfig:
    """The other team of the pair."""
    (other,) = (config for name, config in TEAMS.items() if name != stack)
    return other


@dataclass
class Installed:
    """What the install put on the cluster: objects applied, platform namespaces and Secrets."""

    applied: int
    platform_namespaces: list[str]
    platform_secrets: list[tuple[str, str]]


def repointed_stacks(tmp: Path) -> Path:
    """A stacks folder with the platform stack and each team stack aimed at ``PLATFORM``."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / f"Pulumi.{PLATFORM}.yaml").write_text(
        (STACKS_DIR / f"Pulumi.{PLATFORM}.yaml").read_text()
    )
    for stack in TEAM_STACKS:
        document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
        document["config"]["kubeai:platformStack"] = PLATFORM
        (tmp / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp


def rendered(stack: str, stacks_dir: Path, out: Path) -> list[dict[str, Any]]:
    """The objects ``render_stack`` writes for ``stack``, in its order, minus the left-out ones."""
    result = render_stack(stack, out, stacks_dir=stacks_dir)
    docs: list[dict[str, Any]] = []
    for name in dict.fromkeys(entry["file"] for entry in result.entries):
        docs += [d for d in yaml.safe_load_all((out / name).read_text()) if isinstance(d, dict)]
    return [d for d in docs if d["kind"] != "DeclaredResource" and d["kind"] not in WORKLOAD_KINDS]


def upstream_crds() -> list[dict[str, Any]]:
    """Every pinned upstream CRD (verified files under ``.tools/upstream/crds``)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(upstream.ensure("crds").rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return [d for d in docs if d.get("kind") == "CustomResourceDefinition"]


@pytest.fixture(scope="module")
def tenancy(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The CRDs, the platform stack and both team stacks applied (server-side) to the plane."""
    tmp = tmp_path_factory.mktemp("tenancy")
    stacks_dir = repointed_stacks(tmp / "stacks")
    platform = rendered(PLATFORM, stacks_dir, tmp / PLATFORM)
    teams = [rendered(stack, stacks_dir, tmp / stack) for stack in TEAM_STACKS]
    crds = upstream_crds()
    with control_plane.client(timeout=60.0) as admin:
        kube = KubeApi(admin)
        applied = kube.apply_all(crds)
        kube.wait_established([crd["metadata"]["name"] for crd in crds])
        for docs in (platform, *teams):
            applied += kube.apply_all(docs)
    namespaces = [d["metadata"]["name"] for d in platform if d["kind"] == "Namespace"]
    secrets = [
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in platform
        if d["kind"] == "Secret"
    ]
    return Installed(applied, [*SYSTEM_NAMESPACES, *namespaces], secrets)


@pytest.fixture
def admin(control_plane: ControlPlane, tenancy: Installed) -> Iterator[KubeApi]:
    """The admin's API (controls: what a refused request would do when authorized)."""
    with control_plane.client() as client:
        yield KubeApi(client)


def as_group_member(plane: ControlPlane, stack: str, role: str) -> httpx.Client:
    """A client impersonating a user whose only groups are the team's ``role`` groups."""
    config = TEAMS[stack]
    groups = role_groups(config)[role]
    return impersonating(plane, f"{config.team.name}-{role}-user", groups=groups)


# ---------------------------------------------------------------------------------------------
# the objects a team creates


def pytorch_job(namespace: str) -> dict[str, Any]:
    """A one-replica PyTorchJob run by the team's training service account."""
    pod = {
        "serviceAccountName": TRAINING_SERVICE_ACCOUNT,
        "containers": [{"name": "pytorch", "image": "registry.invalid/train:1"}],
    }
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "tenancy-check", "namespace": namespace},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": pod}}}},
    }


def workflow(namespace: str) -> dict[str, Any]:
    """A one-step Argo Workflow run by the team's workflow service account."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "tenancy-check", "namespace": namespace},
        "spec": {
            "entrypoint": "main",
            "serviceAccountName": WORKFLOW_SERVICE_ACCOUNT,
            "templates": [
                {"name": "main", "container": {"image": "registry.invalid/step:1"}},
            ],
        },
    }


def dataset(namespace: str, config: TeamConfig) -> dict[str, Any]:
    """A Fluid Dataset as the team program writes them (its first dataset, renamed)."""
    assert config.datasets, "the team stack declares no dataset to copy"
    copy = config.datasets[0].model_copy(update={"name": "tenancy-check"})
    return dataset_manifest(copy, namespace)


KINDS = ["PyTorchJob", "Dataset", "Workflow"]


def workload(kind: str, config: TeamConfig) -> dict[str, Any]:
    """The ``kind`` (one of ``KINDS``) a team creates, in the namespace of the team ``config``."""
    namespace = config.team.name
    if kind == "Dataset":
        return dataset(namespace, config)
    return pytorch_job(namespace) if kind == "PyTorchJob" else workflow(namespace)


def create(client: httpx.Client, kube: KubeApi, manifest: dict[str, Any]) -> httpx.Response:
    """A dry-run create of ``manifest`` made by ``client``."""
    meta = manifest["metadata"]
    path = kube.path(manifest["apiVersion"], manifest["kind"], namespace=meta.get("namespace"))
    return client.post(path, params=DRY_RUN, json=manifest)


def create_as_member(
    plane: ControlPlane, kube: KubeApi, stack: str, role: str, manifest: dict[str, Any]
) -> httpx.Response:
    """A dry-run create of ``manifest`` by a member of the team's ``role`` groups."""
    with as_group_member(plane, stack, role) as client:
        return create(client, kube, manifest)


def refused(response: httpx.Response, control: httpx.Response) -> None:
    """Assert ``response`` is 403 while the admin's identical ``control`` request succeeded."""
    assert control.is_success, f"the admin's control request failed: {message(control)}"
    assert response.status_code == 403, (
        f"expected 403, got {response.status_code}: {message(response)}"
    )


# ---------------------------------------------------------------------------------------------
# the install itself


def test_platform_and_two_teams_install_without_rejections(tenancy: Installed) -> None:
    assert tenancy.applied > 0
    assert "kubeai-system" in tenancy.platform_namespaces
    assert tenancy.platform_secrets, "the platform stack renders no Secret to protect"


# ---------------------------------------------------------------------------------------------
# team groups: their own namespace, the other team's


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("stack", "role"), identities("admins", "members"))
def test_team_writers_create_workloads_in_own_namespace(
    control_plane: ControlPlane, admin: KubeApi, stack: str, role: str, kind: str
) -> None:
    response = create_as_member(control_plane, admin, stack, role, workload(kind, TEAMS[stack]))
    assert response.status_code == 201, message(response)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("stack", "role"), identities("admins", "members", "viewers"))
def test_team_groups_cannot_create_workloads_in_other_team_namespace(
    control_plane: ControlPlane, admin: KubeApi, stack: str, role: str, kind: str
) -> None:
    manifest = workload(kind, other_team(stack))
    response = create_as_member(control_plane, admin, stack, role, manifest)
    refused(response, create(admin.client, admin, manifest))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("stack", "role"), identities("viewers"))
def test_team_viewers_cannot_create_workloads_in_own_namespace(
    control_plane: ControlPlane, admin: KubeApi, stack: str, role: str, kind: str
) -> None:
    manifest = workload(kind, TEAMS[stack])
    response = create_as_member(control_plane, admin, stack, role, manifest)
    refused(response, create(admin.client, admin, manifest))


# ---------------------------------------------------------------------------------------------
# team groups: quota, limits, queue and the namespace itself are the platform's


def guard_rails(config: TeamConfig, kube: KubeApi) -> dict[str, tuple[str, dict[str, Any]]]:
    """By kind: the path of the team's ResourceQuota, LimitRange, (cluster-scoped) Volcano Queue
    and Namespace, with a merge patch a team would want (more room, or privileged pods)."""
    team = config.team.name
    relabel = {"metadata": {"labels": {"kubeai.dev/tenancy-check": "changed"}}}
    privileged = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    return {
        "ResourceQuota": (
            kube.path("v1", "ResourceQuota", namespace=team, name="kubeai-team"),
            {"spec": {"hard": {"requests.nvidia.com/gpu": "1000"}}},
        ),
        "LimitRange": (
            kube.path("v1", "LimitRange", namespace=team, name="kubeai-team"),
            relabel,
        ),
        "Queue": (
            kube.path("scheduling.volcano.sh/v1beta1", "Queue", name=team),
            {"spec": {"weight": 1000}},
        ),
        "Namespace": (kube.path("v1", "Namespace", name=team), privileged),
    }


@pytest.mark.parametrize("kind", ["ResourceQuota", "LimitRange", "Queue", "Namespace"])
@pytest.mark.parametrize(("stack", "role"), identities("admins", "members", "viewers"))
def test_team_groups_cannot_change_quota_limits_queue_or_namespace(
    control_plane: ControlPlane, admin: KubeApi, stack: str, role: str, kind: str
) -> None:
    path, patch = guard_rails(TEAMS[stack], admin)[kind]
    with as_group_member(control_plane, stack, role) as client:
        patched = client.patch(path, params=DRY_RUN, json=patch, headers=MERGE_PATCH)
        deleted = client.delete(path, params=DRY_RUN)
    refused(patched, admin.client.patch(path, params=DRY_RUN, json=patch, headers=MERGE_PATCH))
    refused(deleted, admin.client.delete(path, params=DRY_RUN))


# ---------------------------------------------------------------------------------------------
# team groups: platform Secrets


@pytest.mark.parametrize(("stack", "role"), identities("admins", "members", "viewers"))
def test_team_groups_cannot_read_platform_secrets(
    control_plane: ControlPlane, admin: KubeApi, tenancy: Installed, stack: str, role: str
) -> None:
    with as_group_member(control_plane, stack, role) as client:
        for namespace in tenancy.platform_namespaces:
            path = admin.path("v1", "Secret", namespace=namespace)
            refused(client.get(path), admin.client.get(path))
        for namespace, name in tenancy.platform_secrets:
            path = admin.path("v1", "Secret", namespace=namespace, name=name)
            refused(client.get(path), admin.client.get(path))


# ---------------------------------------------------------------------------------------------
# no escalation: team groups and the team's service accounts


def escalations(namespace: str) -> list[dict[str, Any]]:
    """Objects that would grant more than a team identity holds: bindings to the ``cluster-admin``
    and ``admin`` ClusterRoles in the team namespace, a Role with every verb on Secrets, and a
    ClusterRoleBinding to ``cluster-admin``.

    No team identity holds any verb on RBAC objects (nor ``bind``/``escalate``), so the apiserver
    refuses these at authorization ("cannot create resource rolebindings"), before its
    escalation check would even run; the tests only require the 403, so a future Role that lets
    a team manage RoleBindings still has to pass the escalation check to keep them green."""
    subject = {"kind": "Group", "name": "system:authenticated", "apiGroup": RBAC_GROUP}
    bindings = [
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": f"tenancy-check-{role}", "namespace": namespace},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [subject],
        }
        for role in ("cluster-admin", "admin")
    ]
    role = {
        "apiVersion": RBAC,
        "kind": "Role",
        "metadata": {"name": "tenancy-check-secrets", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}],
    }
    cluster_binding = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "tenancy-check"},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [subject],
    }
    return [*bindings, role, cluster_binding]


def escalation_id(manifest: dict[str, Any]) -> str:
    """A test id for an escalation object, e.g. ``RoleBinding-cluster-admin``."""
    return f"{manifest['kind']}-{manifest['metadata']['name'].removeprefix('tenancy-check-')}"


ESCALATIONS = [pytest.param(i, id=escalation_id(m)) for i, m in enumerate(escalations("x"))]
SERVICE_ACCOUNTS = [TRAINING_SERVICE_ACCOUNT, WORKFLOW_SERVICE_ACCOUNT]


@pytest.mark.parametrize("escalation", ESCALATIONS)
@pytest.mark.parametrize("account", SERVICE_ACCOUNTS)
@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_team_service_accounts_cannot_grant_rights(
    control_plane: ControlPlane, admin: KubeApi, stack: str, account: str, escalation: int
) -> None:
    namespace = TEAMS[stack].team.name
    manifest = escalations(namespace)[escalation]
    user = service_account_user(namespace, account)
    with impersonating(control_plane, user) as client:
        response = create(client, admin, manifest)
    refused(response, create(admin.client, admin, manifest))


@pytest.mark.parametrize("escalation", ESCALATIONS)
@pytest.mark.parametrize(("stack", "role"), identities("admins", "members", "viewers"))
def test_team_groups_cannot_grant_rights(
    control_plane: ControlPlane, admin: KubeApi, stack: str, role: str, escalation: int
) -> None:
    manifest = escalations(TEAMS[stack].team.name)[escalation]
    response = create_as_member(control_plane, admin, stack, role, manifest)
    refused(response, create(admin.client, admin, manifest))


@pytest.mark.parametrize("account", SERVICE_ACCOUNTS)
@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_team_service_accounts_cannot_impersonate(
    control_plane: ControlPlane, admin: KubeApi, stack: str, account: str
) -> None:
    namespace = TEAMS[stack].team.name
    token = token_request(admin, namespace, account)
    path = admin.path("v1", "Secret", namespace="kube-system")
    other = service_account_user(namespace, "default")
    attempts = {
        "admin user": [("Impersonate-User", "kubeai-admin")],
        "system:masters": [("Impersonate-User", "anyone"), ("Impersonate-Group", "system:masters")],
        "service account": [("Impersonate-User", other)],
    }
    with bearer(control_plane, token) as own:
        whoami = own.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    assert whoami.json()["status"]["userInfo"]["username"] == service_account_user(
        namespace, account
    )
    for what, headers in attempts.items():
        with bearer(control_plane, token, headers=headers) as client:
            response = client.get(path)
        assert response.status_code == 403, f"{what}: {response.status_code} {message(response)}"


@pytest.mark.parametrize("stack", TEAM_STACKS)
def test_training_service_account_has_no_api_rights(
    control_plane: ControlPlane, admin: KubeApi, stack: str
) -> None:
    namespace = TEAMS[stack].team.name
    user = service_account_user(namespace, TRAINING_SERVICE_ACCOUNT)
    paths = [
        admin.path("v1", "Pod", namespace=namespace),
        admin.path("v1", "Secret", namespace=namespace),
        admin.path("kubeflow.org/v1", "PyTorchJob", namespace=namespace),
    ]
    with impersonating(control_plane, user) as client:
        for path in paths:
            refused(client.get(path), admin.client.get(path))
