"""Atomic version allocation under concurrency, over HTTP against a real uvicorn server, on a
real SQLite file and (when installed) a real PostgreSQL server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from glue.artifacts.store import ArtifactStore
from tests.glue.model_registry.conftest import CONFIG, SIGNATURE
from tests.support.registry import RegistryServer, registry_settings

N = 20


def _registrations(server: RegistryServer, tmp: Path, uids: list[str]) -> list[httpx.Response]:
    store = ArtifactStore(server.settings.artifacts)
    src = tmp / "src" / "digits"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text(CONFIG.format(name="digits"))
    (src / "1" / "model.py").write_text("# m\n")
    uri = store.local_uri("models", "digits", "shared")
    manifest = store.upload_dir(src, uri).model_dump(mode="json")
    httpx.post(
        f"{server.url}/api/v1/teams/cv/models", json={"name": "digits", "team": "cv"}
    ).raise_for_status()

    def register(uid: str) -> httpx.Response:
        body = {
            "artifact_uri": uri,
            "manifest": manifest,
            "signature": SIGNATURE,
            "source": {"kind": "PyTorchJob", "namespace": "cv", "name": "j", "uid": uid},
        }
        return httpx.post(
            f"{server.url}/api/v1/teams/cv/models/digits/versions", json=body, timeout=60
        )

    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(register, uids))


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path):
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    (tmp_path / "artifacts").mkdir()
    srv = RegistryServer(registry_settings(tmp_path, url)).start()
    yield srv
    srv.stop()


def test_parallel_registrations_get_versions_1_to_n(server: RegistryServer, tmp_path: Path) -> None:
    responses = _registrations(server, tmp_path, [f"uid-{i}" for i in range(N)])
    assert [r.status_code for r in responses] == [201] * N, [
        r.text for r in responses if r.status_code != 201
    ]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, N + 1))
    page = httpx.get(
        f"{server.url}/api/v1/teams/cv/models/digits/versions", params={"limit": 100}
    ).json()
    assert page["total"] == N
    assert httpx.get(f"{server.url}/api/v1/teams/cv/models/digits").json()["latest_version"] == N


def test_parallel_duplicate_source_uid_gives_one_version(
    server: RegistryServer, tmp_path: Path
) -> None:
    responses = _registrations(server, tmp_path, ["same-uid"] * N)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert {r.json()["version"] for r in responses} == {1}
    assert sum(r.status_code == 201 for r in responses) == 1
    assert httpx.get(f"{server.url}/api/v1/teams/cv/models/digits").json()["latest_version"] == 1
