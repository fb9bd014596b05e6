"""Datasets synced from Fluid Datasets (``PUT /api/v1/teams/{team}/datasets/{dataset}``): an
idempotent upsert by source, audited as ``dataset.sync``, beside the file datasets it never takes
over; on SQLite and PostgreSQL; and the 0004 migration keeps the datasets recorded before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from glue.model_registry.app import create_app
from glue.model_registry.db import Database, upgrade
from tests.glue.model_registry.conftest import Env
from tests.glue.model_registry.test_conformance import schema_accepts
from tests.support.registry import registry_settings

API = "/api/v1/teams/cv"


def sync_body(**extra: Any) -> dict[str, Any]:
    """The state of Fluid Dataset ``cv/digits`` as the controller sends it."""
    body: dict[str, Any] = {
        "source": {"namespace": "cv", "name": "digits", "uid": "uid-digits-1"},
        "mounts": [
            {"name": "digits", "mount_point": "s3://data/digits", "path": "/", "read_only": True}
        ],
        "phase": "Bound",
        "size_bytes": 1_073_741_824,
        "file_count": 1797,
        "cache": {"capacity_bytes": 2_147_483_648, "cached_bytes": 0, "cached_percentage": 0.0},
    }
    body.update(extra)
    return body


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def sync_events(client: TestClient) -> list[dict[str, Any]]:
    audit = client.get("/api/v1/audit", params={"team": "cv"}).json()["items"]
    return [e for e in audit if e["action"] == "dataset.sync"]


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """A registry app over SQLite or a real PostgreSQL server."""
    (tmp_path / "artifacts").mkdir()
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    with TestClient(create_app(registry_settings(tmp_path, url))) as c:
        yield c


def test_sync_creates_then_updates_and_is_idempotent(client: TestClient) -> None:
    created = client.put(f"{API}/datasets/digits", json=sync_body())
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["source"] == {
        "kind": "Dataset",
        "api_version": "data.fluid.io/v1alpha1",
        "namespace": "cv",
        "name": "digits",
        "uid": "uid-digits-1",
    }
    assert record["uri"] == "s3://data/digits" and record["manifest"] is None
    assert record["rows"] is None and record["phase"] == "Bound"
    assert record["size_bytes"] == 1_073_741_824 and record["file_count"] == 1797
    assert record["cache"]["capacity_bytes"] == 2_147_483_648 and record["deleted_at"] is None
    assert record["mounts"][0]["read_only"] is True

    again = client.put(f"{API}/datasets/digits", json=sync_body())
    assert again.status_code == 200 and again.json() == record
    assert len(sync_events(client)) == 1

    cached = {"capacity_bytes": 2_147_483_648, "cached_bytes": 1_073_741_824}
    updated = client.put(
        f"{API}/datasets/digits",
        json=sync_body(cache={**cached, "cached_percentage": 100.0}),
    )
    assert updated.status_code == 200 and updated.json()["cache"]["cached_percentage"] == 100.0
    assert updated.json()["synced_at"] >= record["synced_at"]
    events = sync_events(client)
    assert [e["detail"]["outcome"] for e in events] == ["updated", "created"]
    assert list(events[0]["detail"]["changes"]) == ["cache"]
    assert events[0]["resource"] == "datasets/digits"

    assert client.get(f"{API}/datasets/digits").json() == updated.json()
    assert client.get(f"{API}/datasets").json()["total"] == 1


def test_deleted_dataset_stays_recorded_and_comes_back(client: TestClient) -> None:
    assert client.put(f"{API}/datasets/digits", json=sync_body()).status_code == 201
    gone = client.put(f"{API}/datasets/digits", json=sync_body(deleted=True))
    assert gone.status_code == 200 and gone.json()["deleted_at"] is not None
    # deleting again keeps the first time it was seen gone
    assert client.put(f"{API}/datasets/digits", json=sync_body(deleted=True)).json() == gone.json()
    source = {"namespace": "cv", "name": "digits", "uid": "uid-digits-2"}
    back = client.put(f"{API}/datasets/digits", json=sync_body(source=source))
    assert back.status_code == 200 and back.json()["deleted_at"] is None
    assert back.json()["source"]["uid"] == "uid-digits-2"
    latest = sync_events(client)[0]["detail"]
    assert latest["changes"]["source_uid"] == ["uid-digits-1", "uid-digits-2"]
    assert latest["changes"]["deleted"] == [True, False]


def test_versions_refer_to_a_synced_dataset(env: Env) -> None:
    assert env.client.put(f"{API}/datasets/digits", json=sync_body()).status_code == 201
    env.create_model()
    body = env.version_body("digits", "uid-job-1", dataset="digits")
    registered = env.client.post(f"{API}/models/digits/versions", json=body)
    assert registered.status_code == 201, registered.text
    assert registered.json()["dataset"] == "digits"


def test_file_and_synced_datasets_never_take_each_other_over(env: Env) -> None:
    art = env.upload_model("files", "t1")
    file_dataset = {"name": "files", "uri": art["artifact_uri"], "manifest": art["manifest"]}
    assert env.client.post(f"{API}/datasets", json={**file_dataset, "rows": 3}).status_code == 201
    over_file = env.client.put(
        f"{API}/datasets/files",
        json=sync_body(source={"namespace": "cv", "name": "files", "uid": "u"}),
    )
    assert over_file.status_code == 409 and fields(over_file) == ["path.dataset"]
    assert "file dataset" in over_file.json()["detail"]

    assert env.client.put(f"{API}/datasets/digits", json=sync_body()).status_code == 201
    over_synced = env.client.post(
        f"{API}/datasets", json={**file_dataset, "name": "digits", "rows": 3}
    )
    assert over_synced.status_code == 409 and fields(over_synced) == ["body.name"]
    assert "cv/digits" in over_synced.json()["detail"]
    listed = env.client.get(f"{API}/datasets").json()["items"]
    assert [(d["name"], d["source"] is None, d["rows"]) for d in listed] == [
        ("digits", False, None),
        ("files", True, 3),
    ]


def test_same_name_in_another_namespace_of_the_team_is_409(client: TestClient) -> None:
    assert client.put(f"{API}/datasets/digits", json=sync_body()).status_code == 201
    other = client.put(
        f"{API}/datasets/digits",
        json=sync_body(source={"namespace": "cv-dev", "name": "digits", "uid": "u2"}),
    )
    assert other.status_code == 409 and fields(other) == ["body.source.namespace"]
    assert "cv/digits" in other.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": {"namespace": "cv", "name": "other", "uid": "u"}}, "body.source.name"),
        (
            {"source": {"namespace": "cv", "name": "digits", "uid": "u", "kind": "PVC"}},
            "body.source.kind",
        ),
        ({"mounts": []}, "body.mounts"),
        ({"mounts": [{"mount_point": "s3://key:secret@host/d"}]}, "body.mounts[0].mount_point"),
        ({"mounts": [{"mount_point": "s3://d", "options": {"k": "v"}}]}, "body.mounts[0].options"),
        ({"size_bytes": -1}, "body.size_bytes"),
        ({"size_bytes": "1GiB"}, "body.size_bytes"),
        ({"cache": {"cached_percentage": 101}}, "body.cache.cached_percentage"),
        ({"phase": "Not Bound"}, "body.phase"),
        ({"rows": 3}, "body.rows"),
        ({"deleted": 0}, "body.deleted"),
        ({"cache": {"hit_ratio": False}}, "body.cache.hit_ratio"),
        (
            {"cache": {"capacity_bytes": 1024, "cached_bytes": 1025}},
            "body.cache.cached_bytes",
        ),
        (
            {
                "mounts": [
                    {"mount_point": "https://h/p?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2Fx"}
                ]
            },
            "body.mounts[0].mount_point",
        ),
        ({"mounts": [{"mount_point": "s3://data/d#token"}]}, "body.mounts[0].mount_point"),
    ],
)
def test_bad_sync_bodies_are_422_naming_the_field(
    env: Env, change: dict[str, Any], field: str
) -> None:
    response = env.client.put(f"{API}/datasets/digits", json=sync_body(**change))
    assert response.status_code == 422, response.text
    assert fields(response) == [field]
    # the document refuses what the server refuses, except the cross-field rule it names
    document = env.client.get("/openapi.json").json()
    if field not in ("body.source.name", "body.cache.cached_bytes"):
        assert not schema_accepts(document, "DatasetSync", sync_body(**change))


def test_the_document_describes_the_sync(env: Env) -> None:
    document = env.client.get("/openapi.json").json()
    put = document["paths"]["/api/v1/teams/{team}/datasets/{dataset}"]["put"]
    assert {"200", "201", "422"} <= set(put["responses"])
    assert "dataset.sync" in put["description"]
    assert schema_accepts(document, "DatasetSync", sync_body())
    rules = document["components"]["schemas"]["DatasetSync"]["properties"]["source"]
    assert rules["x-kubeai-rules"] == ["source.name equals the path's dataset"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0004_keeps_recorded_datasets(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'r.db'}"
    )
    upgrade(url, revision="0003")
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO datasets (name, team, uri, manifest, rows, description, labels, "
                "created_at) VALUES ('old', 'cv', 'file:///x', '{\"files\": []}', 5, '', '{}', "
                "CURRENT_TIMESTAMP)"
            )
        )
    db.migrate()
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT mounts, rows, source_uid FROM datasets")).one()
    db.dispose()
    assert row[0] in ("[]", []) and row[1] == 5 and row[2] is None
