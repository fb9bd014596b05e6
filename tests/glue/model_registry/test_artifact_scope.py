"""Team scoping of artifact URIs (``KUBEAI_REGISTRY_ARTIFACT_TEAM_PREFIXES``): a team's
versions and datasets point below its own prefix only; the templates are checked at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from glue.artifacts.manifest import build_manifest
from glue.model_registry import artifact_scope
from glue.model_registry.app import create_app
from glue.model_registry.settings import RegistrySettings
from tests.glue.model_registry.conftest import Env

API = "/api/v1/teams/cv"


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[Env]:
    """A registry whose teams own ``<local_root>/teams/<team>/`` and ``s3://shared/t/<team>``."""
    env = Env(tmp_path)
    env.settings = env.settings.model_copy(
        update={"artifact_team_prefixes": ["{local_root}/teams/{team}/", "s3://shared/t/{team}"]}
    )
    env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    with env.client:
        env.create_model()
        yield env


def _register(env: Env, *parts: str, uid: str) -> Any:
    body = env.version_body("digits", uid)
    src = env.tmp / "src" / uid / "digits"
    uri = env.store.local_uri(*parts)
    env.store.upload_dir(src, uri)
    body["artifact_uri"] = uri
    return env.client.post(f"{API}/models/digits/versions", json=body)


@pytest.mark.parametrize(
    "parts",
    [
        ("models", "digits", "1"),  # outside every team's prefix
        ("teams", "nlp", "models", "digits", "1"),  # another team's
        ("teams", "cv-evil", "models", "digits", "1"),  # prefix confusion
    ],
)
def test_a_version_outside_the_teams_prefixes_is_422(scoped: Env, parts: tuple[str, ...]) -> None:
    r = _register(scoped, *parts, uid="uid-" + parts[1])
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.artifact_uri"
    assert f"{scoped.store.local_root}/teams/cv/" in r.json()["detail"]


def test_a_version_inside_the_teams_prefix_is_registered(scoped: Env) -> None:
    r = _register(scoped, "teams", "cv", "models", "digits", "1", uid="uid-ok")
    assert r.status_code == 201, r.text


def test_a_dataset_outside_the_teams_prefixes_is_422(scoped: Env) -> None:
    files = scoped.tmp / "files"
    files.mkdir()
    (files / "a.csv").write_text("x\n")
    manifest = build_manifest(files).model_dump(mode="json")
    for parts, status in ((("datasets", "a"), 422), (("teams", "cv", "datasets", "a"), 201)):
        uri = scoped.store.local_uri(*parts)
        scoped.store.upload_dir(files, uri)
        body = {"name": "a", "uri": uri, "manifest": manifest, "rows": 1}
        r = scoped.client.post(f"{API}/datasets", json=body)
        assert r.status_code == status, r.text
        if status == 422:
            assert r.json()["errors"][0]["field"] == "body.uri"


def test_without_prefixes_nothing_is_scoped(env: Env) -> None:
    env.create_model()
    body = env.version_body("digits", "uid-free")  # below <local_root>/models/
    assert env.client.post(f"{API}/models/digits/versions", json=body).status_code == 201


def test_rendering_and_containment() -> None:
    prefixes = artifact_scope.render(
        ["{local_root}/teams/{team}/", "s3://b/t/{team}"], team="cv", local_root=Path("/r")
    )
    assert prefixes == ["file:///r/teams/cv", "s3://b/t/cv"]
    assert artifact_scope.is_below("s3://b/t/cv/m/1", prefixes)
    assert not artifact_scope.is_below("s3://b/t/cv-evil/m/1", prefixes)
    assert not artifact_scope.is_below("s3://b/t/cv", prefixes)
    assert artifact_scope.team_prefix("s3://root/", "cv") == "s3://root/teams/cv"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("s3://b/teams/", "exactly once"),
        ("s3://b/teams-{team}/", "whole path segment"),
        ("s3://b/{team}/{team}/", "exactly once"),
        ("s3://b/{bucket}/{team}/", "unknown placeholder"),
        ("s3://b/{team", "not a template"),
    ],
)
def test_bad_templates_are_refused_naming_the_setting(template: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RegistrySettings(artifact_team_prefixes=[template])
    error = caught.value.errors()[0]
    assert error["loc"][0] == "artifact_team_prefixes" and problem in error["msg"]
