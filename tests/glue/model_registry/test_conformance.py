"""The OpenAPI document says what the registry enforces, and the inputs that once showed they
disagreed are kept here with the right answer: for each, the document's JSON Schema and the
server give the same verdict. Also: 405 with ``Allow``, text parameters under the body's text
rules (NUL bytes on SQLite and PostgreSQL), unexpected errors as 500 problem+json on a
connection that stays usable, reserved alias names, and datasets that never drop a change."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from glue.model_registry import schemas
from glue.model_registry.app import create_app
from glue.model_registry.service import models as models_service
from tests.glue.model_registry.conftest import Env
from tests.support.registry import RegistryServer, registry_settings

API = "/api/v1/teams/cv"


def schema_accepts(document: dict[str, Any], component: str, instance: Any) -> bool:
    """Whether ``instance`` is valid against ``#/components/schemas/<component>`` (2020-12)."""
    validator = Draft202012Validator({**document, "$ref": f"#/components/schemas/{component}"})
    return validator.is_valid(instance)


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_limit_maximum_is_the_configured_page_size(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    settings = registry_settings(tmp_path).model_copy(update={"max_page_size": 40})
    with TestClient(create_app(settings)) as client:
        document = client.get("/openapi.json").json()
        limits = [
            p["schema"]["maximum"]
            for item in document["paths"].values()
            for op in item.values()
            for p in op.get("parameters", ())
            if p["name"] == "limit"
        ]
        assert limits and set(limits) == {40}
        assert client.get(f"{API}/models", params={"limit": 40}).status_code == 200
        over = client.get(f"{API}/models", params={"limit": 41})
        assert over.status_code == 422 and fields(over) == ["query.limit"]


@pytest.mark.parametrize(
    ("component", "body", "valid"),
    [
        # A label key outside the key pattern: the schema said any key was fine.
        ("ModelCreate", {"name": "m", "team": "t", "labels": {"}X;+": "v"}}, False),
        ("ModelCreate", {"name": "m", "team": "t", "labels": {"app.kubernetes.io/x": "v"}}, True),
        ("ModelUpdate", {"labels": {"a b": "v"}}, False),
        # A manifest key '' (and '.', '..', absolute paths) is no relative path.
        (
            "DatasetCreate",
            {
                "name": "d",
                "team": "t",
                "uri": "file:///x",
                "rows": 1,
                "manifest": {"files": {"": {"sha256": "0" * 64, "size": 1}}},
            },
            False,
        ),
        # Exactly one of version/alias; canary_version and canary_share together.
        (
            "AssignmentsSet",
            {"assignments": [{"model": "m", "alias": "a", "version": 1, "canary_version": 1}]},
            False,
        ),
        ("AssignmentsSet", {"assignments": [{"model": "m"}]}, False),
        ("AssignmentsSet", {"assignments": [{"model": "m", "version": 1, "alias": None}]}, True),
        (
            "AssignmentsSet",
            {"assignments": [{"model": "m", "alias": "a", "canary_share": 0.5}]},
            False,
        ),
        # An alias the API reserves, or a version look-alike.
        ("AssignmentsSet", {"assignments": [{"model": "m", "alias": "latest"}]}, False),
        ("AssignmentsSet", {"assignments": [{"model": "m", "alias": "v3"}]}, False),
        # The same model version twice in a pod report.
        (
            "PodStatusReport",
            {"models": [{"model": "m", "version": 1, "state": "READY"}] * 2},
            False,
        ),
        # Numbers are JSON numbers: a share or a latency sent as a string is refused (quoted:
        # ``PUT canaries`` took ``share: "0.5"``).
        ("CanarySet", {"version": 2, "share": "0.5"}, False),
        ("CanarySet", {"version": 2, "share": True}, False),
        ("CanarySet", {"version": 2, "share": 0.5}, True),
        (
            "AssignmentsSet",
            {
                "assignments": [
                    {"model": "m", "version": 1, "canary_version": 2, "canary_share": "0.5"}
                ]
            },
            False,
        ),
        (
            "PodStatusReport",
            {
                "models": [],
                "traffic": [
                    {
                        "model": "m",
                        "version": 1,
                        "success": 1,
                        "failure": 0,
                        "duration_us": 1,
                        "p99_us": "900",
                    }
                ],
            },
            False,
        ),
    ],
)
def test_schema_and_server_agree(env: Env, component: str, body: Any, valid: bool) -> None:
    document = env.client.get("/openapi.json").json()
    assert schema_accepts(document, component, body) is valid
    route = {
        "ModelCreate": ("POST", f"{API}/models"),
        "ModelUpdate": ("PATCH", f"{API}/models/m"),
        "DatasetCreate": ("POST", f"{API}/datasets"),
        "AssignmentsSet": ("PUT", f"{API}/services/s/assignments"),
        "PodStatusReport": ("PUT", f"{API}/services/s/pods/p/status"),
        "CanarySet": ("PUT", f"{API}/services/s/canaries/m"),
    }[component]
    env.client.post(f"{API}/services", json={"name": "s"})
    response = env.client.request(*route, json=body)
    # Request validation refuses exactly what the schema refuses; a valid body may still break
    # a rule of stored state (no model 'm': 422 "Unprocessable content", or 404 for the path).
    refused = response.status_code == 422 and response.json()["title"] == "Invalid request"
    assert refused is not valid, response.text


def test_an_integral_float_is_an_integer(env: Env) -> None:
    """``11631860.0`` is a JSON Schema integer: accepted wherever an integer is."""
    env.create_model()
    env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", "u1"))
    moved = env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1.0})
    assert moved.status_code == 200 and moved.json()["to_version"] == 1
    art = env.upload_model("digits", "ds")
    dataset = {"name": "d", "team": "cv", "uri": art["artifact_uri"], "manifest": art["manifest"]}
    created = env.client.post(f"{API}/datasets", json={**dataset, "rows": 11631860.0})
    assert created.status_code == 201 and created.json()["rows"] == 11631860
    for wrong in (1.5, "1", True):
        refused = env.client.put(f"{API}/models/digits/aliases/production", json={"version": wrong})
        assert refused.status_code == 422 and fields(refused) == ["body.version"], wrong


def test_a_metric_value_is_a_json_number(env: Env) -> None:
    """As a share or a latency: ``"0.95"`` (a string) and ``true`` are no metric values."""
    env.create_model()
    for n, wrong in enumerate(("0.95", True)):
        body = env.version_body("digits", f"u{n}", metrics={"accuracy": wrong})
        refused = env.client.post(f"{API}/models/digits/versions", json=body)
        assert refused.status_code == 422, refused.text
        assert fields(refused) == ["body.metrics.accuracy"], wrong
    body = env.version_body("digits", "u-1", metrics={"accuracy": 1})
    assert env.client.post(f"{API}/models/digits/versions", json=body).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", f"{API}/models", "GET, POST"),
        ("DELETE", f"{API}/models/m", "GET, PATCH"),
        ("PUT", f"{API}/models/m/aliases/history", "GET"),
        ("GET", f"{API}/models/m/aliases/production", "PUT"),
        ("OPTIONS", "/healthz", "GET"),
    ],
)
def test_405_names_the_allowed_methods(env: Env, method: str, path: str, allow: str) -> None:
    response = env.client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"].startswith("application/problem+json")


TEXT_PARAMETERS = [
    (f"{API}/models/m/versions", "source_uid"),
    (f"{API}/models/m/versions", "dataset"),
    ("/api/v1/audit", "team"),
    ("/api/v1/audit", "principal"),
    (f"{API}/services/s/desired", "pod"),
]


def _nul_bytes_refused(client: TestClient) -> None:
    client.post(f"{API}/models", json={"name": "m"})
    for path, name in TEXT_PARAMETERS:
        for value in ("a\x00b", "a\x1bb", "a\x85b"):
            response = client.get(path, params={name: value})
            assert response.status_code == 422, (path, name, value, response.text)
            assert fields(response) == [f"query.{name}"]
    for path in (
        f"{API}/models/a%00b",
        f"{API}/services/s/pods/a%00b",
        "/api/v1/teams/a%00b/models",
    ):
        response = client.request("GET" if "models" in path else "DELETE", path)
        assert response.status_code == 422 and fields(response)[0].startswith("path.")


def test_control_characters_in_parameters_are_422_on_sqlite(env: Env) -> None:
    _nul_bytes_refused(env.client)


def test_control_characters_in_parameters_are_422_on_postgresql(
    tmp_path: Path,
    postgres_url: str,
) -> None:
    """``GET .../versions?source_uid=a%00b`` was a 500 on PostgreSQL (NUL in a text bind)."""
    (tmp_path / "artifacts").mkdir()
    with TestClient(create_app(registry_settings(tmp_path, postgres_url))) as client:
        _nul_bytes_refused(client)
        assert client.get(f"{API}/models/m/versions", params={"source_uid": "ab"}).json() == {
            "items": [],
            "total": 0,
            "limit": 50,
            "offset": 0,
            "next_offset": None,
        }


def _http(sock: socket.socket, request: bytes) -> tuple[bytes, bytes]:
    """Send one request on ``sock``; the response head and body (Content-Length framing)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_unexpected_error_is_500_problem_and_the_connection_stays_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(models_service, "list_models", broken)
    (tmp_path / "artifacts").mkdir()
    server = RegistryServer(registry_settings(tmp_path)).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            request = b"GET /api/v1/teams/cv/models HTTP/1.1\r\nHost: registry\r\n\r\n"
            head, body = _http(sock, request)
            assert head.startswith(b"HTTP/1.1 500"), head
            assert b"application/problem+json" in head and b"a bug" not in body
            head, body = _http(sock, b"GET /metrics HTTP/1.1\r\nHost: registry\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), (head, body)
            # The 500 is counted like any answer.
            assert b'route="/api/v1/teams/{team}/models",status="500"' in body
    finally:
        server.stop()


@pytest.mark.parametrize("alias", [*sorted(schemas.RESERVED_ALIASES - {"latest"}), "v3", "v10"])
def test_reserved_alias_names_are_422(env: Env, alias: str) -> None:
    env.create_model()
    response = env.client.put(f"{API}/models/digits/aliases/{alias}", json={"version": 1})
    if alias in ("history",):  # the literal route's resource: PUT is no method of it
        assert response.status_code == 405
        return
    assert response.status_code == 422, response.text
    assert fields(response) == ["path.alias"]
    assert "history, latest" in response.json()["detail"]


def test_latest_is_reserved_and_means_the_newest_version(env: Env) -> None:
    env.create_model()
    assert env.client.get(f"{API}/models/digits/versions/latest").status_code == 404
    for uid in ("u1", "u2"):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", uid))
    env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    refused = env.client.put(f"{API}/models/digits/aliases/latest", json={"version": 1})
    assert refused.status_code == 422 and fields(refused) == ["path.alias"]
    assert "latest" in refused.json()["errors"][0]["message"]
    assert env.client.get(f"{API}/models/digits/versions/latest").json()["version"] == 2
    for name in ("V3", "3"):
        assert (
            env.client.put(f"{API}/models/digits/aliases/{name}", json={"version": 1}).status_code
            == 422
        )
    assigned = env.client.post(
        f"{API}/services",
        json={"name": "s", "team": "cv", "assignments": [{"model": "digits", "alias": "history"}]},
    )
    assert assigned.status_code == 422 and fields(assigned) == ["body.assignments[0].alias"]


def test_every_literal_path_segment_is_reserved(env: Env) -> None:
    import re

    document = env.client.get("/openapi.json").json()
    literal = {
        part
        for path in document["paths"]
        for part in path.split("/")
        if part and "{" not in part and re.fullmatch(schemas.ALIAS_PATTERN, part)
    }
    assert literal - {"v1"} <= schemas.RESERVED_ALIASES, literal - schemas.RESERVED_ALIASES


def test_dataset_reregistration_with_other_values_is_409_naming_them(env: Env) -> None:
    art = env.upload_model("digits", "ds")
    dataset = {
        "name": "digits-a",
        "team": "cv",
        "rows": 10,
        "uri": art["artifact_uri"],
        "manifest": art["manifest"],
    }
    assert env.client.post(f"{API}/datasets", json=dataset).status_code == 201
    assert env.client.post(f"{API}/datasets", json=dataset).status_code == 200
    for change, named in (
        ({"rows": 11}, "rows"),
        ({"description": "other"}, "description"),
        ({"labels": {"a": "b"}}, "labels"),
        ({"rows": 11, "description": "other"}, "rows, description"),
    ):
        conflict = env.client.post(f"{API}/datasets", json={**dataset, **change})
        assert conflict.status_code == 409, conflict.text
        assert f"other {named};" in conflict.json()["detail"]
        assert fields(conflict) == [f"body.{next(iter(change))}"] or len(change) > 1
    # another team's dataset of the same name is its own; a body naming another team is refused
    assert env.client.post("/api/v1/teams/nlp/datasets", json=dataset).status_code == 422
    other = {k: v for k, v in dataset.items() if k != "team"}
    assert env.client.post("/api/v1/teams/nlp/datasets", json=other).status_code == 201
    moved = env.client.post(f"{API}/datasets", json={**dataset, "team": "nlp"})
    assert moved.status_code == 422 and fields(moved) == ["body.team"]
    stored = env.client.get(f"{API}/datasets/digits-a").json()
    assert (stored["rows"], stored["team"]) == (10, "cv")


def test_405_behind_a_path_prefix(env: Env) -> None:
    """Served below a proxy's prefix (``root_path``), the resource is found all the same."""
    with TestClient(create_app(env.settings), root_path="/registry") as client:
        response = client.request("TRACE", "/registry/api/v1/teams/cv/models")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert client.get("/registry/api/v1/teams/cv/models").status_code == 200


def test_request_rules_json_schema_cannot_state_are_422_whatever_the_state(env: Env) -> None:
    """Rules comparing values within one request (named by ``x-kubeai-rules``) are checked
    before any stored state: ``POST /services?exist_ok=true`` of an existing service with the
    same assignment twice was a 200, though its schema (``uniqueItems``) says invalid."""
    document = env.client.get("/openapi.json").json()
    for component in ("ServiceCreate", "AssignmentsSet"):
        rules = document["components"]["schemas"][component]["properties"]["assignments"]
        assert rules["x-kubeai-rules"] == ["each model at most once"]
    assert env.client.post(f"{API}/services", json={"name": "s"}).status_code == 201
    twice = [{"model": "m", "alias": "a"}, {"model": "m", "version": 2}]
    for identical in (False, True):
        assignments = [twice[0], twice[0]] if identical else twice
        again = env.client.post(
            f"{API}/services",
            params={"exist_ok": "true"},
            json={"name": "s", "assignments": assignments},
        )
        assert again.status_code == 422 and fields(again) == ["body.assignments"], again.text
        assert "model 'm' is assigned twice (items 0 and 1)" in again.json()["detail"]
    report = {
        "models": [
            {"model": "m", "version": 1, "state": "READY"},
            {"model": "m", "version": 1, "state": "FAILED", "error": "x"},
        ]
    }
    assert schema_accepts(document, "PodStatusReport", report)  # unstatable: x-kubeai-rules
    refused = env.client.put(f"{API}/services/s/pods/p/status", json=report)
    assert refused.status_code == 422 and fields(refused) == ["body.models"]
    assert "version 1 is reported twice" in refused.json()["detail"]
    canary = {"model": "m", "version": 2, "canary_version": 2, "canary_share": 0.5}
    assert schema_accepts(document, "Assignment", canary)  # unstatable: x-kubeai-rules
    refused = env.client.put(f"{API}/services/s/assignments", json={"assignments": [canary]})
    assert refused.status_code == 422 and fields(refused) == ["body.assignments[0]"]
