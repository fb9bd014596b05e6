"""How the registry reports artifact storage problems, through the app (FastAPI TestClient).

A URI the client got wrong is 422 (``Unprocessable content``); a storage this deployment is not
configured to serve is 422 titled ``Artifact storage not configured`` whose detail names the
registry's variable to set (``KUBEAI_REGISTRY_ARTIFACTS__...``) or the extra to install; only a
transient outage (connection refused, 5xx) is 503. Storage is moto_server (a real S3 API on
loopback), a loopback HTTP server answering with S3 errors, or a closed loopback port.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from glue.artifacts.settings import ArtifactSettings, S3Settings
from glue.model_registry.app import create_app
from tests.glue.artifacts.test_store_s3 import _answering, _serving, clear_aws_credentials
from tests.glue.model_registry.conftest import Env
from tests.support.moto import MotoServer
from tests.support.net import free_port

API = "/api/v1/teams/cv"
PROBLEM = "application/problem+json"
NOT_CONFIGURED = "Artifact storage not configured"


@contextmanager
def _registry(env: Env, **artifacts: Any) -> Iterator[TestClient]:
    """A registry over ``env``'s database and local root with these artifact settings, and the
    model ``digits`` created."""
    settings = env.settings.model_copy(
        update={"artifacts": ArtifactSettings(local_root=env.tmp / "artifacts", **artifacts)}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.post(f"{API}/models", json={"name": "digits", "team": "cv"})
        yield client


def _register(env: Env, client: TestClient, uri: str, uid: str = "u1") -> httpx.Response:
    body = env.version_body("digits", uid)
    body["artifact_uri"] = uri
    return client.post(f"{API}/models/digits/versions", json=body)


def _problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = response.json()
    assert problem["title"] == title
    assert [e["field"] for e in problem["errors"]] == ["body.artifact_uri"]
    return problem


def _s3(endpoint_url: str, **keys: str) -> S3Settings:
    return S3Settings(
        endpoint_url=endpoint_url,
        region="us-east-1",
        addressing_style="path",
        max_attempts=1,
        connect_timeout=0.5,
        **keys,
    )


# ------------------------------------------------------- not configured: 422 naming the setting


def test_s3_without_credentials_is_not_retry_later(
    env: Env, moto_s3: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_aws_credentials(monkeypatch, env.tmp)
    with _registry(env, s3=_s3(moto_s3.endpoint_url)) as client:
        r = _register(env, client, f"s3://{s3_bucket}/digits/1")
        problem = _problem(r, 422, NOT_CONFIGURED)
        assert "KUBEAI_REGISTRY_ARTIFACTS__S3__ACCESS_KEY_ID" in problem["detail"]
        assert "KUBEAI_REGISTRY_ARTIFACTS__S3__SECRET_ACCESS_KEY" in problem["detail"]
        assert client.get(f"{API}/models/digits").json()["latest_version"] == 0


def test_s3_credentials_the_store_refuses_are_not_retry_later(env: Env) -> None:
    with (
        _serving(_answering(403, "InvalidAccessKeyId")) as url,
        _registry(env, s3=_s3(url, access_key_id="k", secret_access_key="s")) as client,
    ):
        problem = _problem(_register(env, client, "s3://models/digits/1"), 422, NOT_CONFIGURED)
        assert "KUBEAI_REGISTRY_ARTIFACTS__S3__ACCESS_KEY_ID" in problem["detail"]


def test_gs_without_gcsfs_names_the_extra(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # import gcsfs -> ImportError
    with _registry(env) as client:
        problem = _problem(
            _register(env, client, "gs://kubeai-models/digits/1"), 422, NOT_CONFIGURED
        )
        assert "kubeai-platform[gcs]" in problem["detail"]


def test_oss_without_endpoint_names_the_variable(env: Env) -> None:
    with _registry(env) as client:
        problem = _problem(
            _register(env, client, "oss://kubeai-models/digits/1"), 422, NOT_CONFIGURED
        )
        assert "KUBEAI_REGISTRY_ARTIFACTS__OSS__ENDPOINT_URL" in problem["detail"]


# ------------------------------------------------------------------- bad URI: plain 422


@pytest.mark.parametrize(
    "uri",
    [
        "s3://models/digits/\uff0e\uff0e/1",
        "s3://models/digits\uff0e1",
        "oss://kubeai-models/\uff0e\uff0e/digits",
        "gs://kubeai-models/digits/\uff0e/1",
        "file://{root}/\uff0e\uff0e/digits",
    ],
)
def test_full_width_dot_keys_are_a_bad_uri(env: Env, uri: str) -> None:
    """Refused as the client's URI before any storage is used, however the storage is set up
    (no S3 keys, no OSS endpoint, no gcsfs here): 422 naming the character."""
    uri = uri.replace("{root}", str(env.store.local_root))
    with _registry(env) as client:
        problem = _problem(_register(env, client, uri), 422, "Unprocessable content")
        assert "U+FF0E" in problem["detail"]
        dataset = client.post(
            f"{API}/datasets",
            json={
                "name": "digits-ds",
                "team": "cv",
                "rows": 10,
                "uri": uri,
                "manifest": env.upload_model("digits", "ds")["manifest"],
            },
        )
        assert dataset.status_code == 422, dataset.text
        assert [e["field"] for e in dataset.json()["errors"]] == ["body.uri"]


def test_uppercase_bucket_is_a_bad_uri_naming_the_lowercase_name(env: Env) -> None:
    with _registry(env) as client:
        problem = _problem(
            _register(env, client, "s3://Models/digits/1"), 422, "Unprocessable content"
        )
        assert "'models'" in problem["detail"]


# ------------------------------------------------------------ transient outage: still 503


@pytest.mark.parametrize("outage", ["connection refused", "500 InternalError", "503 SlowDown"])
def test_transient_outage_is_503(env: Env, outage: str) -> None:
    keys = {"access_key_id": "k", "secret_access_key": "s"}
    with _outage(outage) as url, _registry(env, s3=_s3(url, **keys)) as client:
        problem = _problem(
            _register(env, client, "s3://models/digits/1"), 503, "Service unavailable"
        )
        assert "KUBEAI_REGISTRY_ARTIFACTS__S3__ENDPOINT_URL" in problem["detail"]
        assert client.get(f"{API}/models/digits").json()["latest_version"] == 0


@contextmanager
def _outage(kind: str) -> Iterator[str]:
    if kind == "connection refused":
        yield f"http://127.0.0.1:{free_port()}"
        return
    status, code = kind.split()
    with _serving(_answering(int(status), code)) as url:
        yield url


# --------------------------------------------------------- one spelling per artifact URI


def test_file_uri_scheme_case_is_one_artifact_for_registration(env: Env) -> None:
    """``FILE:///...`` is stored as ``file:///...``; the retry spelled ``file://`` is the same
    registration (200, same version), not a conflict."""
    env.create_model()
    body = env.version_body("digits", "u-case")
    canonical = body["artifact_uri"]
    assert canonical.startswith("file:///")
    first = env.client.post(
        f"{API}/models/digits/versions",
        json={**body, "artifact_uri": "FILE://" + canonical.removeprefix("file://")},
    )
    assert first.status_code == 201, first.text
    assert first.json()["artifact_uri"] == canonical
    retry = env.client.post(f"{API}/models/digits/versions", json=body)
    assert retry.status_code == 200, retry.text
    assert retry.json()["version"] == first.json()["version"]
    again = env.client.post(
        f"{API}/models/digits/versions",
        json={**body, "artifact_uri": "File://" + canonical.removeprefix("file://") + "/"},
    )
    assert again.status_code == 200, again.text
    stored = env.client.get(f"{API}/models/digits/versions/{first.json()['version']}").json()
    assert stored["artifact_uri"] == canonical


def test_file_uri_scheme_case_is_one_artifact_for_datasets(env: Env) -> None:
    uploaded = env.upload_model("digits", "ds")
    canonical = uploaded["artifact_uri"]
    body = {"name": "digits-ds", "team": "cv", "rows": 10, "manifest": uploaded["manifest"]}
    first = env.client.post(
        f"{API}/datasets", json={**body, "uri": "FILE://" + canonical.removeprefix("file://")}
    )
    assert first.status_code == 201, first.text
    assert first.json()["uri"] == canonical
    retry = env.client.post(f"{API}/datasets", json={**body, "uri": canonical})
    assert retry.status_code == 200, retry.text
