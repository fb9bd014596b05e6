"""The registry authenticates ServiceAccount tokens with the real apiserver's TokenReview API.

The registry app runs in-process (FastAPI TestClient over a real SQLite file and a local artifact
root) with ``auth.kubernetes`` pointed at the session's control plane; its own credential is a
token of the ServiceAccount ``authreg/registry``, bound to ``system:auth-delegator`` as the
kubeai-glue chart binds it. Callers' tokens come from the TokenRequest API exactly as the kubelet
gets them for projected volumes (audience ``kubeai-registry``; the agent's bound to its Pod).
The expired token is signed here with the control plane's service-account key (TokenRequest
refuses lifetimes under 10 minutes), next to a control signed the same way that is accepted.
Caching is off (``cache_seconds=0``) so a deleted account or pod is refused on the next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from glue.model_registry.app import create_app
from glue.model_registry.auth.settings import AuthSettings, KubernetesAuth
from infra.controlplane.harness import SERVICE_ACCOUNT_ISSUER, ControlPlane
from tests.glue.model_registry.conftest import Env
from tests.support.kubeapi import KubeApi, message, token_request

TEAM = "authteam"
OTHER = "authother"
REGISTRY_NS = "authreg"
AUDIENCE = "kubeai-registry"
API = f"/api/v1/teams/{TEAM}"


@dataclass
class Cluster:
    """The objects the tests use: the admin API, the agent's Pod, the registry's token file."""

    admin: KubeApi
    pod: dict[str, Any]
    registry_token: Path


def _create(admin: KubeApi, manifest: dict[str, Any]) -> dict[str, Any]:
    namespace = manifest["metadata"].get("namespace")
    path = admin.path(manifest["apiVersion"], manifest["kind"], namespace=namespace)
    response = admin.client.post(path, json=manifest)
    assert response.status_code in (201, 409), message(response)
    if response.status_code == 409:
        name = manifest["metadata"]["name"]
        response = admin.client.get(f"{path}/{name}")
    return dict(response.json())


def _account(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    }


@pytest.fixture(scope="module")
def cluster(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Namespaces, accounts, the agent's Pod and the registry's delegated credential."""
    with control_plane.client() as client:
        admin = KubeApi(client)
        for namespace in (TEAM, OTHER, REGISTRY_NS):
            _create(
                admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        _create(admin, _account(REGISTRY_NS, "registry"))
        _create(
            admin,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "authreg-registry-auth-delegator"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "registry", "namespace": REGISTRY_NS}
                ],
            },
        )
        for name in ("trainer", "agent", "doomed", "kubeai-workflow"):
            _create(admin, _account(TEAM, name))
        for name in ("trainer", "kubeai-workflow"):
            _create(admin, _account(OTHER, name))
        pod = _create(
            admin,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "digits-0", "namespace": TEAM},
                "spec": {
                    "serviceAccountName": "agent",
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "agent", "image": "registry.invalid/agent:1.0.0"}],
                },
            },
        )
        token_file = tmp_path_factory.mktemp("registry-sa") / "token"
        token_file.write_text(token_request(admin, REGISTRY_NS, "registry"))
        yield Cluster(admin=admin, pod=pod, registry_token=token_file)


@pytest.fixture
def env(tmp_path: Path, cluster: Cluster, control_plane: ControlPlane) -> Iterator[Env]:
    """A registry that reviews tokens with the control plane (no cache)."""
    (tmp_path / "artifacts").mkdir()
    env = Env(tmp_path)
    env.settings = env.settings.model_copy(
        update={
            "auth": AuthSettings(
                kubernetes=KubernetesAuth(
                    enabled=True,
                    api_server=control_plane.server,
                    ca_file=control_plane.ca_cert,
                    token_file=cluster.registry_token,
                    cache_seconds=0,
                )
            )
        }
    )
    env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    with env.client:
        yield env


def _eventually(status: Callable[[], int], *, want: int = 401, seconds: float = 30) -> int:
    """``status()`` polled until it returns ``want`` or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while (found := status()) != want and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _signed(control_plane: ControlPlane, admin: KubeApi, *, account: str, exp: int) -> str:
    """A token shaped like the apiserver's (the account's uid included), signed with its
    service-account key."""
    key = RSAKey.import_key(control_plane.pki.service_account_key.read_bytes())
    path = admin.path("v1", "ServiceAccount", namespace=TEAM, name=account)
    uid = admin.client.get(path).json()["metadata"]["uid"]
    now = int(time.time())
    claims = {
        "iss": SERVICE_ACCOUNT_ISSUER,
        "sub": f"system:serviceaccount:{TEAM}:{account}",
        "aud": [AUDIENCE],
        "iat": now - 3600,
        "nbf": now - 3600,
        "exp": exp,
        "kubernetes.io": {"namespace": TEAM, "serviceaccount": {"name": account, "uid": uid}},
    }
    return jwt.encode({"alg": "RS256"}, claims, key)


def test_team_service_account_writes_in_its_team_only_and_is_audited(
    env: Env, cluster: Cluster
) -> None:
    trainer = _as(token_request(cluster.admin, TEAM, "trainer", audiences=[AUDIENCE]))
    created = env.client.post(f"{API}/models", json={"name": "digits"}, headers=trainer)
    assert created.status_code == 201, created.text
    body = env.version_body("digits", "uid-1")
    body["source"]["namespace"] = TEAM
    registered = env.client.post(f"{API}/models/digits/versions", json=body, headers=trainer)
    assert registered.status_code == 201, registered.text
    assert registered.json()["created_by"] == f"system:serviceaccount:{TEAM}:trainer"
    # a job of another namespace cannot be registered by a team account
    body = env.version_body("digits", "uid-2")
    body["source"]["namespace"] = OTHER
    r = env.client.post(f"{API}/models/digits/versions", json=body, headers=trainer)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "body.source.namespace"
    # writer, not promoter: production does not move
    r = env.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 1}, headers=trainer
    )
    assert r.status_code == 403 and "promoter" in r.json()["detail"]
    # another team's account reads nothing here, and this one nothing there
    stranger = _as(token_request(cluster.admin, OTHER, "trainer", audiences=[AUDIENCE]))
    assert env.client.get(f"{API}/models/digits", headers=stranger).status_code == 403
    assert env.client.get(f"/api/v1/teams/{OTHER}/models", headers=trainer).status_code == 403
    audit = env.client.get("/api/v1/audit", headers=trainer).json()["items"]
    assert [(e["action"], e["principal"], e["method"]) for e in audit] == [
        ("version.register", f"system:serviceaccount:{TEAM}:trainer", "kubernetes"),
        ("model.create", f"system:serviceaccount:{TEAM}:trainer", "kubernetes"),
    ]
    whoami = env.client.get("/api/v1/whoami", headers=trainer).json()
    assert whoami["teams"] == {TEAM: ["writer"]} and whoami["admin"] is False


def test_the_pipelines_account_promotes_in_its_team_only(env: Env, cluster: Cluster) -> None:
    """``kubeai-workflow`` (the model-iteration steps' account) is a promoter of its namespace's
    team by default: it moves ``production`` and starts and clears a canary there; the same
    account name in another namespace is nothing here."""
    trainer = _as(token_request(cluster.admin, TEAM, "trainer", audiences=[AUDIENCE]))
    assert env.client.post(f"{API}/models", json={"name": "digits"}, headers=trainer).is_success
    for uid in ("uid-1", "uid-2"):
        body = env.version_body("digits", uid)
        body["source"]["namespace"] = TEAM
        r = env.client.post(f"{API}/models/digits/versions", json=body, headers=trainer)
        assert r.status_code == 201, r.text
    workflow = _as(token_request(cluster.admin, TEAM, "kubeai-workflow", audiences=[AUDIENCE]))
    assert env.client.get("/api/v1/whoami", headers=workflow).json()["teams"] == {
        TEAM: ["promoter"]
    }
    moved = env.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 1}, headers=workflow
    )
    assert moved.status_code == 200 and moved.json()["actor"].endswith(":kubeai-workflow")
    service = {"name": "digits", "assignments": [{"model": "digits", "alias": "production"}]}
    r = env.client.post(f"{API}/services", json=service, headers=workflow)
    assert r.status_code == 201, r.text
    canary = f"{API}/services/digits/canaries/digits"
    r = env.client.put(canary, json={"version": 2, "share": 0.5}, headers=workflow)
    assert r.status_code == 200, r.text
    assert (
        env.client.put(canary, json={"version": 2, "share": 0.5}, headers=trainer).status_code
        == 403
    )
    r = env.client.delete(canary, params={"reason": "p99 too high"}, headers=workflow)
    assert r.status_code == 200 and r.json()["assignments"][0]["canary_status"] == "cleared"
    stranger = _as(token_request(cluster.admin, OTHER, "kubeai-workflow", audiences=[AUDIENCE]))
    r = env.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 2}, headers=stranger
    )
    assert r.status_code == 403


def test_tokens_the_apiserver_refuses_are_401(
    env: Env, cluster: Cluster, control_plane: ControlPlane
) -> None:
    path = f"{API}/models"
    assert env.client.get(path).status_code == 401
    wrong = _as(token_request(cluster.admin, TEAM, "trainer", audiences=["another-service"]))
    r = env.client.get(path, headers=wrong)
    assert r.status_code == 401 and AUDIENCE in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"
    apiserver_audience = _as(token_request(cluster.admin, TEAM, "trainer"))
    assert env.client.get(path, headers=apiserver_audience).status_code == 401
    assert env.client.get(path, headers=_as("garbage")).status_code == 401
    later = int(time.time()) + 3600
    control = _as(_signed(control_plane, cluster.admin, account="trainer", exp=later))
    assert env.client.get(path, headers=control).status_code == 200
    expired = _as(
        _signed(control_plane, cluster.admin, account="trainer", exp=int(time.time()) - 60)
    )
    assert env.client.get(path, headers=expired).status_code == 401


def test_a_deleted_account_is_refused(env: Env, cluster: Cluster) -> None:
    doomed = _as(token_request(cluster.admin, TEAM, "doomed", audiences=[AUDIENCE]))
    assert env.client.get(f"{API}/models", headers=doomed).status_code == 200
    path = cluster.admin.path("v1", "ServiceAccount", namespace=TEAM, name="doomed")
    assert cluster.admin.client.delete(path).status_code == 200
    # the apiserver looks the account up in its informer cache: allow it to catch up
    assert _eventually(lambda: env.client.get(f"{API}/models", headers=doomed).status_code) == 401


def test_an_agent_reports_only_its_own_pod_of_its_own_service(env: Env, cluster: Cluster) -> None:
    trainer = _as(token_request(cluster.admin, TEAM, "trainer", audiences=[AUDIENCE]))
    for name, account in (("digits", "agent"), ("other", "someone-else")):
        r = env.client.post(
            f"{API}/services", json={"name": name, "service_account": account}, headers=trainer
        )
        assert r.status_code == 201, r.text
    agent = _as(token_request(cluster.admin, TEAM, "agent", audiences=[AUDIENCE], pod=cluster.pod))
    report = {"models": []}
    ok = env.client.put(f"{API}/services/digits/pods/digits-0/status", json=report, headers=agent)
    assert ok.status_code == 200, ok.text
    forged = env.client.put(
        f"{API}/services/digits/pods/ghost-0/status", json=report, headers=agent
    )
    assert forged.status_code == 403 and forged.json()["errors"][0]["field"] == "path.pod"
    not_its = env.client.put(
        f"{API}/services/other/pods/digits-0/status", json=report, headers=agent
    )
    assert not_its.status_code == 403 and not_its.json()["errors"][0]["field"] == "path.service"
    by_writer = env.client.put(
        f"{API}/services/digits/pods/digits-0/status", json=report, headers=trainer
    )
    assert by_writer.status_code == 403
    assert env.client.delete(f"{API}/services/digits/pods/digits-0").status_code == 401
    # the pod is deleted: its bound token dies with it
    path = cluster.admin.path("v1", "Pod", namespace=TEAM, name="digits-0")
    assert cluster.admin.client.delete(path, params={"gracePeriodSeconds": 0}).status_code == 200
    url = f"{API}/services/digits/pods/digits-0/status"
    assert _eventually(lambda: env.client.put(url, json=report, headers=agent).status_code) == 401
