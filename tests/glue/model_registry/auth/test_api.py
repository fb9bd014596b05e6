"""Who may do what through the API: the authorization matrix, 401/403 problems, the audit log's
principals, team-scoped names, the OpenAPI security scheme and the protected endpoints.

Static tokens and a local OIDC issuer authenticate the callers (TokenReview is proven against the
real apiserver in tests/cluster/test_registry_auth.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glue.model_registry.app import create_app
from glue.model_registry.auth.settings import AuthSettings
from tests.glue.model_registry.auth.support import Issuer
from tests.glue.model_registry.conftest import Env

TOKENS = {
    user: f"{user}-".ljust(40, "x") for user in ("root", "bob", "carol", "alice", "agent", "dave")
}
BINDINGS = [
    {"team": "cv", "role": "reader", "users": ["bob"]},
    {"team": "cv", "role": "writer", "groups": ["cv-writers"]},
    {"team": "cv", "role": "promoter", "users": ["alice"], "groups": ["oidc:ml-promoters"]},
    {"team": "cv", "role": "agent", "users": ["agent"]},
    {"team": "search", "role": "writer", "users": ["dave"]},
]
API = "/api/v1/teams/cv"


def _settings(env: Env, tmp: Path, issuer: Issuer, **extra: object) -> Env:
    tokens = tmp / "tokens.csv"
    tokens.write_text(
        "".join(
            f'{token},{user},{user}-uid,"{"cv-writers" if user == "carol" else ""}"\n'
            for user, token in TOKENS.items()
        )
    )
    auth = AuthSettings.model_validate(
        {
            "static_tokens_file": tokens,
            "oidc": {"issuer": issuer.url},
            "admins": {"users": ["root"]},
            "bindings": BINDINGS,
            **extra,
        }
    )
    env.settings = env.settings.model_copy(update={"auth": auth})
    env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    return env


@pytest.fixture
def secured(tmp_path: Path, issuer: Issuer) -> Iterator[Env]:
    """A registry with static tokens, OIDC and the bindings above; model ``digits`` (version 1)
    and service ``svc`` of team cv exist."""
    (tmp_path / "artifacts").mkdir()
    env = _settings(Env(tmp_path), tmp_path, issuer)
    with env.client:
        root = _as("root")
        assert (
            env.client.post(f"{API}/models", json={"name": "digits"}, headers=root).status_code
            == 201
        )
        body = env.version_body("digits", "uid-1")
        assert (
            env.client.post(f"{API}/models/digits/versions", json=body, headers=root).status_code
            == 201
        )
        assert (
            env.client.post(f"{API}/services", json={"name": "svc"}, headers=root).status_code
            == 201
        )
        yield env


def _as(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


#: caller -> expected status of: read, write, promote, assign, report, forget
MATRIX = {
    "nobody": (401, 401, 401, 401, 401, 401),
    "garbage": (401, 401, 401, 401, 401, 401),
    "bob": (200, 403, 403, 403, 403, 403),
    "carol": (200, 201, 403, 403, 403, 204),
    "alice": (200, 201, 200, 200, 403, 204),
    "oidc-promoter": (200, 201, 200, 200, 403, 204),
    "agent": (200, 403, 403, 403, 200, 403),
    "dave": (403, 403, 403, 403, 403, 403),
    "root": (200, 201, 200, 200, 200, 204),
}


@pytest.mark.parametrize("caller", MATRIX)
def test_authorization_matrix(secured: Env, issuer: Issuer, caller: str) -> None:
    if caller == "nobody":
        headers: dict[str, str] = {}
    elif caller == "garbage":
        headers = {"Authorization": "Bearer garbage"}
    elif caller == "oidc-promoter":
        headers = {"Authorization": "Bearer " + issuer.sign(sub="erin", groups=["ml-promoters"])}
    else:
        headers = _as(caller)
    c = secured.client
    got = (
        c.get(f"{API}/models/digits", headers=headers).status_code,
        c.post(f"{API}/models", json={"name": f"m-{caller}"}, headers=headers).status_code,
        c.put(
            f"{API}/models/digits/aliases/production", json={"version": 1}, headers=headers
        ).status_code,
        c.put(
            f"{API}/services/svc/assignments",
            json={"assignments": [{"model": "digits", "alias": "production"}]},
            headers=headers,
        ).status_code,
        c.put(
            f"{API}/services/svc/pods/p-0/status", json={"models": []}, headers=headers
        ).status_code,
        c.delete(f"{API}/services/svc/pods/p-0", headers=headers).status_code,
    )
    assert got == MATRIX[caller]


def test_refusals_are_problems_naming_what_is_missing(secured: Env) -> None:
    c = secured.client
    r = c.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == 'Bearer realm="kubeai-registry"'
    assert "Authorization: Bearer" in r.json()["detail"]
    basic = c.get(f"{API}/models", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert basic.status_code == 401 and "'Basic'" in basic.json()["detail"]
    r = c.put(f"{API}/models/digits/aliases/production", json={"version": 1}, headers=_as("bob"))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == (
        "bob may not promote in team 'cv': that needs the role promoter or above (has reader)"
    )
    assert r.json()["errors"] == [{"field": "path.team", "message": r.json()["detail"]}]
    # nobody learns whether another team's service exists
    r = c.put(
        "/api/v1/teams/cv/services/nope/pods/p/status", json={"models": []}, headers=_as("dave")
    )
    assert r.status_code == 403


def test_teams_own_their_names_and_the_audit_log_names_the_authenticated_principal(
    secured: Env,
) -> None:
    c = secured.client
    r = c.post("/api/v1/teams/search/models", json={"name": "digits"}, headers=_as("dave"))
    assert r.status_code == 201 and r.json()["team"] == "search"
    assert c.get("/api/v1/teams/search/models/digits", headers=_as("bob")).status_code == 403
    moved = c.put(
        f"{API}/models/digits/aliases/production",
        json={"version": 1, "reason": "ship"},
        headers=_as("alice"),
    )
    assert moved.json()["actor"] == "alice"
    spoof = c.put(
        f"{API}/models/digits/aliases/production",
        json={"version": 1, "actor": "mallory"},
        headers=_as("alice"),
    )
    assert spoof.status_code == 422  # no client-supplied actor
    history = c.get(f"{API}/models/digits/aliases/history", headers=_as("bob")).json()
    assert [e["actor"] for e in history["items"]] == ["alice"]
    everything = c.get("/api/v1/audit", headers=_as("root")).json()["items"]
    assert [(e["team"], e["action"], e["principal"]) for e in everything] == [
        ("cv", "alias.set", "alice"),
        ("search", "model.create", "dave"),
        ("cv", "service.create", "root"),
        ("cv", "version.register", "root"),
        ("cv", "model.create", "root"),
    ]
    assert {e["team"] for e in c.get("/api/v1/audit", headers=_as("bob")).json()["items"]} == {"cv"}
    assert c.get("/api/v1/audit", params={"team": "cv"}, headers=_as("dave")).status_code == 403
    version = c.get(f"{API}/models/digits/versions/1", headers=_as("bob")).json()
    assert version["created_by"] == "root" and version["team"] == "cv"


def test_whoami_reports_roles(secured: Env, issuer: Issuer) -> None:
    c = secured.client
    assert c.get("/api/v1/whoami", headers=_as("carol")).json() == {
        "name": "carol",
        "groups": ["cv-writers"],
        "method": "static",
        "pod": None,
        "admin": False,
        "teams": {"cv": ["writer"]},
    }
    erin = {"Authorization": "Bearer " + issuer.sign(sub="erin", groups=["ml-promoters"])}
    assert c.get("/api/v1/whoami", headers=erin).json()["teams"] == {"cv": ["promoter"]}
    assert c.get("/api/v1/whoami", headers=_as("root")).json()["teams"] == {"*": ["admin"]}


def test_the_openapi_document_declares_the_bearer_scheme_on_every_api_operation(
    secured: Env,
) -> None:
    spec = secured.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            expected = [{"bearer": []}] if path.startswith("/api/") else None
            assert operation.get("security") == expected, (method, path)
            if path.startswith("/api/"):
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_metrics_and_docs_can_be_restricted(tmp_path: Path, issuer: Issuer) -> None:
    (tmp_path / "artifacts").mkdir()
    env = _settings(Env(tmp_path), tmp_path, issuer, protect_metrics=True, protect_docs=True)
    with env.client as c:
        for path in ("/metrics", "/openapi.json", "/docs", "/redoc"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers=_as("bob")).status_code == 200, path
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200


def test_trial_inputs_on_headers_are_refused_without_echoing_them(secured: Env) -> None:
    c = secured.client
    token = TOKENS["bob"]
    for header in (f"Bearer\t{token}", f"bearer   {token}"):
        assert c.get("/api/v1/whoami", headers={"Authorization": header}).status_code == 200
    for header in (token, "x" * 20_000, f"Token {token}", f"Bearer\xa0{token}"):
        r = c.get("/api/v1/whoami", headers={"Authorization": header.encode("latin-1")})
        assert r.status_code == 401 and token not in r.text and "x" * 50 not in r.text
    two = [
        ("Authorization", f"Bearer {TOKENS['bob']}"),
        ("Authorization", f"Bearer {TOKENS['root']}"),
    ]
    r = c.get("/api/v1/whoami", headers=two)
    assert r.status_code == 401 and "one Authorization header" in r.json()["detail"]


@pytest.mark.parametrize(
    "sub", ["carol\x00x", "carol\nroot", "x" * 600], ids=["nul", "newline", "long"]
)
def test_unusable_principal_names_are_401_not_500(secured: Env, issuer: Issuer, sub: str) -> None:
    token = issuer.sign(sub=sub)
    r = secured.client.post(
        f"{API}/models", json={"name": "m"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401 and "user name is not usable" in r.json()["detail"]


def test_a_writer_cannot_choose_what_a_new_service_serves(secured: Env) -> None:
    """The trial's input: a writer created a service with assignments (skipping promoter), and
    infrastructure's exist_ok call then accepted it untouched."""
    c = secured.client
    body = {"name": "web2", "assignments": [{"model": "digits", "version": 1}]}
    r = c.post(f"{API}/services", json=body, headers=_as("carol"))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "body.assignments"
    squat = c.post(f"{API}/services", json={"name": "web2"}, headers=_as("carol"))
    assert squat.status_code == 201
    infra = {"name": "web2", "service_account": "agent"}
    r = c.post(f"{API}/services", params={"exist_ok": "true"}, json=infra, headers=_as("root"))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "body.service_account"
    assert c.post(f"{API}/services", json=body, headers=_as("alice")).status_code == 409
    body["name"] = "web3"
    assert c.post(f"{API}/services", json=body, headers=_as("alice")).status_code == 201


def test_the_audit_refusal_names_the_query_parameter(secured: Env) -> None:
    r = secured.client.get("/api/v1/audit", params={"team": "cv"}, headers=_as("dave"))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "query.team"


def test_a_writer_syncs_datasets_only_from_the_teams_namespace(secured: Env) -> None:
    """The trial: a sync on team cv naming namespace nlp was recorded (201)."""
    body = {
        "source": {"namespace": "nlp", "name": "digits", "uid": "uid-nlp"},
        "mounts": [{"mount_point": "s3://data/digits"}],
    }
    r = secured.client.put(f"{API}/datasets/digits", json=body, headers=_as("carol"))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "body.source.namespace"
    body["source"]["namespace"] = "cv"
    r = secured.client.put(f"{API}/datasets/digits", json=body, headers=_as("carol"))
    assert r.status_code == 201, r.text
