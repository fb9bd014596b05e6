"""Registry API over a real SQLite file and a real local artifact store (FastAPI TestClient)."""

from __future__ import annotations

import json

from glue.model_registry.schemas import VersionRead
from tests.glue.model_registry.conftest import CONFIG, SIGNATURE, Env
from tests.glue.model_registry.service.agents import settle

API = "/api/v1/teams/cv"
PROBLEM = "application/problem+json"


def _problem_fields(response) -> list[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert body["status"] == response.status_code
    return [e["field"] for e in body["errors"]]


def test_model_crud_and_pagination(env: Env) -> None:
    for i in range(5):
        env.create_model(f"m{i}")
    env.create_model("m1", team="search")  # names are per team: no collision
    page = env.client.get(f"{API}/models", params={"limit": 2}).json()
    assert [m["name"] for m in page["items"]] == ["m0", "m1"]
    assert page["total"] == 5 and page["next_offset"] == 2
    last = env.client.get(f"{API}/models", params={"limit": 2, "offset": 4}).json()
    assert [m["name"] for m in last["items"]] == ["m4"] and last["next_offset"] is None
    search = env.client.get("/api/v1/teams/search/models").json()
    assert [(m["name"], m["team"]) for m in search["items"]] == [("m1", "search")]
    dup = env.client.post(f"{API}/models", json={"name": "m1", "team": "cv"})
    assert dup.status_code == 409 and _problem_fields(dup) == ["body.name"]
    other = env.client.post(f"{API}/models", json={"name": "m9", "team": "search"})
    assert other.status_code == 422 and _problem_fields(other) == ["body.team"]
    patched = env.client.patch(f"{API}/models/m1", json={"description": "new"})
    assert patched.json()["description"] == "new"
    too_big = env.client.get(f"{API}/models", params={"limit": 100000})
    assert too_big.status_code == 422 and _problem_fields(too_big) == ["query.limit"]


def test_bad_names_are_refused_and_nothing_written(env: Env) -> None:
    for bad in ["../etc", "Digits", "a" * 64, "-x", "x_y", ""]:
        r = env.client.post(f"{API}/models", json={"name": bad, "team": "cv"})
        assert r.status_code == 422, bad
        assert _problem_fields(r) == ["body.name"]
    r = env.client.get(f"{API}/models/..%2Fetc")
    assert r.status_code in (404, 422)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert env.client.get(f"{API}/models").json()["total"] == 0


def test_register_version_with_lineage(env: Env) -> None:
    env.create_model()
    ds = env.client.post(
        f"{API}/datasets",
        json={
            "name": "digits-2026",
            "team": "cv",
            "rows": 1797,
            **{
                "uri": env.upload_model("digits", "ds")["artifact_uri"],
                "manifest": env.upload_model("digits", "ds2")["manifest"],
            },
        },
    )
    assert ds.status_code == 201, ds.text
    body = env.version_body("digits", "uid-1", dataset="digits-2026")
    r = env.client.post(f"{API}/models/digits/versions", json=body)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["version"] == 1 and v["dataset"] == "digits-2026"
    assert v["source"] == body["source"] and v["metrics"] == {"accuracy": 0.95}
    assert set(v["manifest"]["files"]) == {"config.pbtxt", "1/model.py"}
    again = env.client.post(f"{API}/models/digits/versions", json=body)
    assert again.status_code == 200 and again.json()["version"] == 1
    assert env.client.get(f"{API}/models/digits").json()["latest_version"] == 1


def test_registration_answers_the_version_as_the_read_route_does(env: Env) -> None:
    """The registration route serialises its answer itself: the same JSON document as
    ``GET .../versions/1`` (valid ``VersionRead``), ``application/json``, 201 then 200."""
    env.create_model()
    body = env.version_body("digits", "uid-1")
    created = env.client.post(f"{API}/models/digits/versions", json=body)
    again = env.client.post(f"{API}/models/digits/versions", json=body)
    read = env.client.get(f"{API}/models/digits/versions/1")
    assert (created.status_code, again.status_code, read.status_code) == (201, 200, 200)
    for answer in (created, again):
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == read.json()
    assert VersionRead.model_validate_json(created.content).version == 1


def test_unknown_dataset_is_refused(env: Env) -> None:
    env.create_model()
    r = env.client.post(
        f"{API}/models/digits/versions", json=env.version_body("digits", "u", dataset="nope")
    )
    assert r.status_code == 422 and _problem_fields(r) == ["body.dataset"]


def test_signature_must_match_config(env: Env) -> None:
    env.create_model()
    body = env.version_body("digits", "uid-sig")
    body["signature"] = {
        **SIGNATURE,
        "inputs": [{"name": "IMAGE", "datatype": "FP64", "dims": [-1, 64]}],
    }
    r = env.client.post(f"{API}/models/digits/versions", json=body)
    assert r.status_code == 422 and _problem_fields(r) == ["body.signature"]
    assert "FP64" in r.json()["detail"]
    wrong_name = {
        **env.version_body("digits", "uid-n"),
        **env.upload_model("digits", "n2", config=CONFIG.format(name="other")),
    }
    r = env.client.post(f"{API}/models/digits/versions", json=wrong_name)
    assert r.status_code == 422 and "must equal the model name" in r.json()["detail"]
    assert env.client.get(f"{API}/models/digits").json()["latest_version"] == 0


def test_artifact_uri_escaping_root_is_refused(env: Env) -> None:
    env.create_model()
    for uri in [
        "file:///etc/passwd",
        f"{env.store.local_uri('models')}/../../x",
        "http://example.invalid/x",
        "ftp://x/y",
        "s3://bucket/a/../b",
    ]:
        body = env.version_body("digits", "uid-esc")
        body["artifact_uri"] = uri
        r = env.client.post(f"{API}/models/digits/versions", json=body)
        assert r.status_code == 422, (uri, r.text)
        assert _problem_fields(r) == ["body.artifact_uri"]
    assert env.client.get(f"{API}/models/digits/versions").json()["total"] == 0
    assert env.client.get(f"{API}/models/digits").json()["latest_version"] == 0


def test_malformed_and_oversized_bodies(env: Env) -> None:
    env.create_model()
    r = env.client.post(
        f"{API}/models/digits/versions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    big = json.dumps({"name": "x", "team": "cv", "description": "a" * (5 << 20)})
    r = env.client.post(f"{API}/models", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and _problem_fields(r) == ["body"]
    extra = env.client.post(f"{API}/models", json={"name": "x", "team": "cv", "teem": 1})
    assert extra.status_code == 422 and _problem_fields(extra) == ["body.teem"]
    body = env.version_body("digits", "uid-m")
    body["manifest"]["files"]["../evil"] = body["manifest"]["files"]["config.pbtxt"]
    r = env.client.post(f"{API}/models/digits/versions", json=body)
    assert r.status_code == 422 and _problem_fields(r)[0].startswith("body.manifest.files")
    assert env.client.get(f"{API}/models").json()["total"] == 1


def test_alias_promotion_rollback_and_audit(env: Env) -> None:
    env.create_model()
    for uid in ("a", "b", "c"):
        assert (
            env.client.post(
                f"{API}/models/digits/versions", json=env.version_body("digits", uid)
            ).status_code
            == 201
        )
    put = env.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 1, "actor": "ana"}
    )
    assert put.status_code == 422 and _problem_fields(put) == ["body.actor"]  # never client text
    put = env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    assert put.status_code == 200 and put.json()["from_version"] is None
    assert put.json()["actor"] == "local"  # the open registry's principal
    assert (
        env.client.put(f"{API}/models/digits/aliases/production", json={"version": 3}).status_code
        == 200
    )
    assert (
        env.client.put(f"{API}/models/digits/aliases/staging", json={"version": 3}).status_code
        == 200
    )
    model = env.client.get(f"{API}/models/digits").json()
    assert model["aliases"] == {"production": 3, "staging": 3}
    assert env.client.get(f"{API}/models/digits/versions/3").json()["aliases"] == [
        "production",
        "staging",
    ]
    assert env.client.get(f"{API}/models/digits/versions/production").json()["version"] == 3
    rb = env.client.post(
        f"{API}/models/digits/aliases/production/rollback", json={"reason": "accuracy dropped"}
    )
    assert rb.status_code == 200
    assert (rb.json()["from_version"], rb.json()["to_version"]) == (3, 1)
    assert env.client.get(f"{API}/models/digits").json()["aliases"]["production"] == 1
    history = env.client.get(f"{API}/models/digits/aliases/history").json()
    assert [(e["alias"], e["from_version"], e["to_version"]) for e in history["items"]] == [
        ("production", 3, 1),
        ("staging", None, 3),
        ("production", 1, 3),
        ("production", None, 1),
    ]
    audit = env.client.get("/api/v1/audit", params={"team": "cv"}).json()["items"]
    assert [(e["action"], e["principal"], e["resource"]) for e in audit[:2]] == [
        ("alias.rollback", "local", "models/digits/aliases/production"),
        ("alias.set", "local", "models/digits/aliases/staging"),
    ]
    assert audit[0]["detail"] == {"from": 3, "to": 1, "reason": "accuracy dropped"}
    assert [e["action"] for e in audit[-4:]] == ["version.register"] * 3 + ["model.create"]
    no_prev = env.client.post(f"{API}/models/digits/aliases/staging/rollback", json={})
    assert no_prev.status_code == 409
    missing = env.client.put(f"{API}/models/digits/aliases/production", json={"version": 9})
    assert missing.status_code == 422 and _problem_fields(missing) == ["body.version"]
    numeric = env.client.put(f"{API}/models/digits/aliases/123", json={"version": 1})
    assert numeric.status_code == 422


def test_services_desired_observed_and_deployments(env: Env) -> None:
    env.create_model()
    for uid in ("a", "b"):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", uid))
    svc = {
        "name": "digits",
        "team": "cv",
        "assignments": [{"model": "digits", "alias": "production"}],
    }
    created = env.client.post(f"{API}/services", json=svc)
    assert created.status_code == 201, created.text
    desired = env.client.get(f"{API}/services/digits/desired", params={"pod": "digits-0"}).json()
    assert desired["models"] == [] and desired["unresolved"] == ["digits"]
    env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    desired = env.client.get(f"{API}/services/digits/desired", params={"pod": "digits-0"}).json()
    assert [(m["model"], m["version"], m["role"]) for m in desired["models"]] == [
        ("digits", 1, "primary")
    ]
    # Infrastructure code re-creating the service never undoes a change made in the registry.
    env.client.put(
        f"{API}/services/digits/assignments",
        json={"assignments": [{"model": "digits", "version": 2}]},
    )
    again = env.client.post(f"{API}/services", params={"exist_ok": "true"}, json=svc)
    assert again.status_code == 200 and again.json()["assignments"][0]["version"] == 2
    assert env.client.post(f"{API}/services", json=svc).status_code == 409
    report = {
        "models": [
            {"model": "digits", "version": 2, "state": "READY"},
            {"model": "digits", "version": 1, "state": "FAILED", "error": "boom"},
        ]
    }
    r = env.client.put(f"{API}/services/digits/pods/digits-0/status", json=report)
    assert r.status_code == 200
    status = env.client.get(f"{API}/services/digits").json()
    assert {(o["pod"], o["version"], o["state"]) for o in status["observed"]} == {
        ("digits-0", 2, "READY"),
        ("digits-0", 1, "FAILED"),
    }
    deps = env.client.get(f"{API}/models/digits/deployments").json()
    assert [(d["service"], d["pod"], d["version"]) for d in deps["items"]] == [
        ("digits", "digits-0", 2)
    ]
    v1 = env.client.get(
        f"{API}/models/digits/deployments", params={"version": 1, "state": "FAILED"}
    ).json()
    assert v1["items"][0]["error"] == "boom"
    # A new report replaces the pod's previous one.
    env.client.put(f"{API}/services/digits/pods/digits-0/status", json={"models": []})
    assert env.client.get(f"{API}/models/digits/deployments").json()["total"] == 0
    bad = env.client.post(
        f"{API}/services",
        json={**svc, "name": "x2", "assignments": [{"model": "nope", "alias": "production"}]},
    )
    assert bad.status_code == 422 and _problem_fields(bad) == ["body.assignments[0].model"]
    both = env.client.post(
        f"{API}/services",
        json={
            **svc,
            "name": "x3",
            "assignments": [{"model": "digits", "alias": "production", "version": 1}],
        },
    )
    assert both.status_code == 422
    assert env.client.get(f"{API}/services/x2").status_code == 404


def test_canary_share_splits_pods(env: Env) -> None:
    env.create_model()
    for uid in ("a", "b"):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", uid))
    env.client.post(
        f"{API}/services",
        json={
            "name": "digits",
            "team": "cv",
            "assignments": [
                {"model": "digits", "version": 1, "canary_version": 2, "canary_share": 0.25}
            ],
        },
    )
    pods = [f"digits-{i}" for i in range(200)]
    roles = [told["digits"] for told in settle(env.client, API, "digits", pods).values()]
    canary = [(version, role) for version, role in roles if role == "canary"]
    assert {version for version, _ in canary} == {2}
    assert len(canary) == 50  # a quarter of the 200 live pods
    first = env.client.get(f"{API}/services/digits/desired", params={"pod": "digits-7"}).json()
    assert first["models"][0]["role"] == roles[7][1]  # stable per pod
    (assignment,) = env.client.get(f"{API}/services/digits").json()["assignments"]
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (50, 150)


def test_openapi_documents_every_route(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = [s for s in op["responses"] if s.startswith("2")]
            assert ok, (method, path)
            if path.startswith(API) and method != "delete":
                assert "schema" in op["responses"][ok[0]]["content"]["application/json"], (
                    method,
                    path,
                )
            assert "422" in op["responses"] and "404" in op["responses"], (method, path)
    assert env.client.get("/metrics").status_code == 200
    assert "kubeai_registry_request_seconds" in env.client.get("/metrics").text


def test_lineage_filters_and_dataset_idempotency(env: Env) -> None:
    env.create_model()
    art = env.upload_model("digits", "ds")
    ds = {
        "name": "digits-a",
        "team": "cv",
        "rows": 10,
        "uri": art["artifact_uri"],
        "manifest": art["manifest"],
    }
    assert env.client.post(f"{API}/datasets", json=ds).status_code == 201
    assert env.client.post(f"{API}/datasets", json=ds).status_code == 200
    changed = {**ds, "manifest": env.upload_model("digits", "ds-b")["manifest"]}
    conflict = env.client.post(f"{API}/datasets", json=changed)
    assert conflict.status_code == 409 and _problem_fields(conflict) == ["body.manifest"]
    env.client.post(
        f"{API}/models/digits/versions", json=env.version_body("digits", "u1", dataset="digits-a")
    )
    env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", "u2"))
    by_uid = env.client.get(f"{API}/models/digits/versions", params={"source_uid": "u2"}).json()
    assert [v["version"] for v in by_uid["items"]] == [2]
    by_ds = env.client.get(f"{API}/models/digits/versions", params={"dataset": "digits-a"}).json()
    assert [v["version"] for v in by_ds["items"]] == [1]
    assert env.client.get(f"{API}/datasets").json()["total"] == 1


def test_unreachable_artifact_storage_is_503_not_500(env: Env, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from glue.artifacts.settings import ArtifactSettings, S3Settings
    from glue.model_registry.app import create_app
    from tests.support.net import free_port

    settings = env.settings.model_copy(
        update={
            "artifacts": ArtifactSettings(
                local_root=tmp_path / "artifacts",
                s3=S3Settings(
                    endpoint_url=f"http://127.0.0.1:{free_port()}",
                    access_key_id="k",
                    secret_access_key="s",
                    region="us-east-1",
                    max_attempts=1,
                    connect_timeout=0.5,
                ),
            )
        }
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.post(f"{API}/models", json={"name": "digits", "team": "cv"})
        body = env.version_body("digits", "u-s3")
        body["artifact_uri"] = "s3://models-bucket/digits/1"
        r = client.post(f"{API}/models/digits/versions", json=body)
        assert r.status_code == 503, r.text
        assert _problem_fields(r) == ["body.artifact_uri"]
        assert client.get(f"{API}/models/digits").json()["latest_version"] == 0


def test_non_finite_huge_and_loose_numbers_are_4xx(env: Env) -> None:
    env.create_model()
    for metrics in ('{"acc": NaN}', '{"acc": Infinity}', '{"acc": -Infinity}', '{"acc": 1e309}'):
        body = json.dumps(env.version_body("digits", "u-nan")).replace(
            '"metrics": {"accuracy": 0.95}', f'"metrics": {metrics}'
        )
        r = env.client.post(
            f"{API}/models/digits/versions",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, (metrics, r.text)
    assert (
        env.client.post(
            f"{API}/models/digits/versions", json=env.version_body("digits", "ok")
        ).status_code
        == 201
    )
    huge = 2**63
    for method, path, payload in [
        ("PUT", "/models/digits/aliases/production", {"version": huge}),
        ("PUT", "/models/digits/aliases/production", {"version": True}),
        ("PUT", "/models/digits/aliases/production", {"version": "1"}),
        ("PUT", "/models/digits/aliases/production", {"version": 2_147_483_648}),
        (
            "POST",
            "/datasets",
            {
                "name": "d",
                "team": "cv",
                "uri": env.store.local_uri("x"),
                "rows": huge,
                "manifest": env.upload_model("digits", "m")["manifest"],
            },
        ),
    ]:
        r = env.client.request(method, API + path, json=payload)
        assert r.status_code == 422, (path, payload, r.text)
    assert env.client.get(f"{API}/models/digits/versions/9999999999").status_code == 404
    assert (
        env.client.get(f"{API}/models/digits/deployments", params={"version": huge}).status_code
        == 422
    )
    nul = env.client.post(
        f"{API}/models", json={"name": "n", "team": "cv", "description": "a\x00b"}
    )
    assert nul.status_code == 422 and _problem_fields(nul) == ["body.description"]
    canary = env.client.post(
        f"{API}/services",
        json={
            "name": "s",
            "team": "cv",
            "assignments": [
                {"model": "digits", "version": 1, "canary_version": 1, "canary_share": 0.5}
            ],
        },
    )
    assert canary.status_code == 422


def test_chunked_oversized_body_is_413_and_json_errors_name_body(env: Env) -> None:
    def chunks():
        for _ in range(6):
            yield b" " * (1 << 20)

    r = env.client.post(
        f"{API}/models", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and _problem_fields(r) == ["body"]
    bad = env.client.post(
        f"{API}/models", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422 and _problem_fields(bad) == ["body"]


def test_idempotency_key_reuse_with_other_artifact_is_409(env: Env) -> None:
    env.create_model()
    first = env.version_body("digits", "uid-x")
    assert env.client.post(f"{API}/models/digits/versions", json=first).status_code == 201
    other = {**first, **env.upload_model("digits", "other-artifact")}
    r = env.client.post(f"{API}/models/digits/versions", json=other)
    assert r.status_code == 409 and _problem_fields(r) == ["body.source.uid"]
    assert env.client.get(f"{API}/models/digits").json()["latest_version"] == 1


def test_layout_the_agent_would_refuse_is_refused_at_registration(env: Env) -> None:
    env.create_model()
    body = env.version_body("digits", "uid-layout")
    body["manifest"]["files"]["metrics/metrics.json"] = body["manifest"]["files"]["config.pbtxt"]
    r = env.client.post(f"{API}/models/digits/versions", json=body)
    assert r.status_code == 422 and _problem_fields(r) == ["body.manifest.files"]
    assert "metrics/" in r.json()["detail"]


def test_exist_ok_in_another_team_creates_its_own_and_rollback_without_body(env: Env) -> None:
    env.create_model()
    svc = {"name": "svc", "assignments": []}
    assert env.client.post(f"{API}/services", json=svc).status_code == 201
    again = env.client.post(f"{API}/services", params={"exist_ok": "true"}, json=svc)
    assert again.status_code == 200
    r = env.client.post("/api/v1/teams/search/services", params={"exist_ok": "true"}, json=svc)
    assert r.status_code == 201 and r.json()["team"] == "search"
    r = env.client.post(f"{API}/services", json={**svc, "team": "search"})
    assert r.status_code == 422 and _problem_fields(r) == ["body.team"]
    for uid in ("a", "b"):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", uid))
    env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    env.client.put(f"{API}/models/digits/aliases/production", json={"version": 2})
    r = env.client.post(f"{API}/models/digits/aliases/production/rollback")
    assert r.status_code == 200 and r.json()["to_version"] == 1


def test_stale_pods_are_flagged_and_left_out_of_deployments(env: Env) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from glue.model_registry import models as orm
    from glue.model_registry.db import Database

    env.create_model()
    env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", "a"))
    env.client.post(f"{API}/services", json={"name": "svc", "team": "cv", "assignments": []})
    report = {"models": [{"model": "digits", "version": 1, "state": "READY"}]}
    env.client.put(f"{API}/services/svc/pods/p1/status", json=report)
    assert env.client.get(f"{API}/models/digits/deployments").json()["total"] == 1
    assert env.client.get(f"{API}/services/svc").json()["observed"][0]["stale"] is False
    # The pod stopped reporting an hour ago (default TTL 120 s).
    db = Database(env.settings.database_url)
    with db.writing() as session:
        session.execute(
            update(orm.ObservedModel).values(reported_at=datetime.now(UTC) - timedelta(hours=1))
        )
    db.dispose()
    assert env.client.get(f"{API}/models/digits/deployments").json()["total"] == 0
    stale = env.client.get(f"{API}/models/digits/deployments", params={"include_stale": "true"})
    assert stale.json()["total"] == 1
    assert env.client.get(f"{API}/services/svc").json()["observed"][0]["stale"] is True
    env.client.put(f"{API}/services/svc/pods/p1/status", json=report)  # it reports again
    assert env.client.get(f"{API}/services/svc").json()["observed"][0]["stale"] is False
    assert env.client.delete(f"{API}/services/svc/pods/p1").status_code == 204
    assert env.client.get(f"{API}/services/svc").json()["observed"] == []


def test_create_app_only_wires_module_level_routers(env: Env) -> None:
    from fastapi.routing import APIRoute

    from glue.model_registry.api import (
        aliases,
        datasets,
        docs,
        identity,
        models,
        ops,
        services,
        versions,
    )

    documented = set()
    for module in (models, versions, aliases, datasets, services, identity, ops, docs):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            assert route.endpoint.__module__ == module.__name__, route.path
            assert route.endpoint.__qualname__ == route.endpoint.__name__, route.path
            if route.include_in_schema:
                documented |= {(m.lower(), route.path) for m in route.methods}
    spec = env.client.get("/openapi.json").json()
    served = {(m, path) for path, ops_ in spec["paths"].items() for m in ops_}
    assert served == documented and len(served) == 29
    for handler in env.client.app.exception_handlers.values():
        assert handler.__qualname__ == handler.__name__, handler


def test_request_metrics_are_labelled_with_the_full_route_template(env: Env) -> None:
    env.create_model()
    assert env.client.get(f"{API}/models/digits").status_code == 200
    assert env.client.get("/nowhere").status_code == 404
    text = env.client.get("/metrics").text
    assert 'route="/api/v1/teams/{team}/models/{model}",status="200"' in text
    assert 'route="/api/v1/teams/{team}/models",status="201"' in text
    assert 'route="unmatched",status="404"' in text


def test_control_characters_are_refused_in_every_text_input(env: Env) -> None:
    """A description "\x1b[2J\x1b]0;pwned\x07" was stored and printed raw by `kubeai models
    show`. C0/C1 controls are refused (422 naming the field) like NUL; descriptions and other
    free text keep newline and tab."""
    evil = "\x1b[2J\x1b]0;pwned\x07"
    cases = [
        ("/models", {"name": "n", "team": "cv", "description": evil}, "body.description"),
        ("/models", {"name": "n", "team": "cv", "task": "a\nb"}, "body.task"),
        ("/models", {"name": "n", "team": "cv", "framework": "a\x85"}, "body.framework"),
        ("/models", {"name": "n", "team": "cv", "labels": {"k": "\x7f"}}, "body.labels.k"),
        ("/services", {"name": "s", "team": "cv", "description": "\r"}, "body.description"),
    ]
    for path, body, field in cases:
        r = env.client.post(API + path, json=body)
        assert r.status_code == 422 and _problem_fields(r) == [field], (body, r.text)
    assert env.client.get(f"{API}/models/n").status_code == 404
    r = env.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 1, "actor": "me\x1b[31m"}
    )
    assert r.status_code == 422 and _problem_fields(r) == ["body.actor"]
    ok = env.client.post(
        f"{API}/models", json={"name": "n", "team": "cv", "description": "two\nlines\tand a tab"}
    )
    assert ok.status_code == 201 and ok.json()["description"] == "two\nlines\tand a tab"
