"""register_job against a real registry (loopback, SQLite) and a local artifact store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glue.artifacts.manifest import build_manifest
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.controller import jobs, registration
from glue.controller.jobs import BadJob
from glue.controller.registration import Refused, Retry, read_output, register_job
from glue.model_registry.client import RegistryClient
from tests.support.registry import RegistryServer

BATCH = jobs.WATCHED[4]
CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 8
input [ {{ name: "IMAGE" data_type: TYPE_FP32 dims: [ 64 ] }} ]
output [ {{ name: "LABEL" data_type: TYPE_INT64 dims: [ 1 ] }} ]
"""


@pytest.fixture
def store(tmp_path: Path, registry: RegistryServer) -> ArtifactStore:
    """The registry fixture's artifact root (tmp_path/artifacts)."""
    return ArtifactStore(ArtifactSettings(local_root=tmp_path / "artifacts"))


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[RegistryClient]:
    with registry.client(team="cv") as c:
        yield c


def job(uid: str = "uid-1", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"train-{uid}",
            "namespace": "cv",
            "uid": uid,
            "labels": {jobs.MODEL_LABEL: "digits"},
            "annotations": annotations,
        },
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "t:1"}]}}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }


def write(store: ArtifactStore, uid: str, *, name: str = "digits", manifest: bool = False) -> str:
    root = f"file://{store.local_root}"
    uri = jobs.default_artifact_uri(root=root, team="cv", model="digits", uid=uid)
    out = Path(uri.removeprefix("file://"))
    (out / "model" / "1").mkdir(parents=True)
    (out / "model" / "config.pbtxt").write_text(CONFIG.format(name=name))
    (out / "model" / "1" / "model.py").write_text(f"# {uid}\n")
    (out / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    if manifest:
        (out / "manifest.json").write_text(build_manifest(out / "model").model_dump_json())
    return root


def register(
    client: RegistryClient, store: ArtifactStore, body: dict[str, Any], dataset: str | None = None
) -> registration.Registered:
    return register_job(
        kind=BATCH,
        body=body,
        team="cv",
        registry=client,
        store=store,
        root=f"file://{store.local_root}",
        dataset=dataset,
    )


def test_registers_once_and_answers_the_same_version_again(
    client: RegistryClient, store: ArtifactStore
) -> None:
    write(store, "uid-1")
    first = register(client, store, job("uid-1"))
    assert (first.model, first.version, first.created) == ("digits", 1, True)
    again = register(client, store, job("uid-1"))
    assert (again.version, again.created) == (1, False)
    (version,) = client.list_versions("digits", source_uid="uid-1").items
    assert version.metrics == {"accuracy": 0.9}
    assert version.artifact_uri.endswith("/jobs/uid-1/model")
    assert version.params == {"image.job.m": "t:1", "images-pinned": "false"}


def test_a_manifest_written_by_the_job_is_used_and_checked(
    client: RegistryClient, store: ArtifactStore
) -> None:
    root = write(store, "uid-2", manifest=True)
    uri = jobs.default_artifact_uri(root=root, team="cv", model="digits", uid="uid-2")
    output = read_output(store, uri)
    assert sorted(output.manifest.files) == ["1/model.py", "config.pbtxt"]
    assert output.format == "triton-python" and output.signature.inputs[0].name == "IMAGE"
    (Path(uri.removeprefix("file://")) / "model" / "1" / "extra.bin").write_bytes(b"x")
    with pytest.raises(BadJob, match=r"artifact manifest\.json"):
        read_output(store, uri)


def test_missing_output_is_refused_naming_the_uri(
    client: RegistryClient, store: ArtifactStore
) -> None:
    with pytest.raises(Refused) as caught:
        register(client, store, job("uid-3"))
    assert "jobs/uid-3" in caught.value.field and "kubeai.dev/artifact-uri" in str(caught.value)


def test_registry_refusals_name_the_field(client: RegistryClient, store: ArtifactStore) -> None:
    write(store, "uid-4", name="other")  # config.pbtxt names another model
    with pytest.raises(Refused) as caught:
        register(client, store, job("uid-4"))
    assert caught.value.field.startswith("body.")


def test_unknown_dataset_and_outage_are_retried(
    client: RegistryClient, store: ArtifactStore, registry: RegistryServer
) -> None:
    write(store, "uid-5")
    with pytest.raises(Retry) as caught:
        register(client, store, job("uid-5"), dataset="not-recorded")
    assert caught.value.reason == "dataset_unknown"
    registry.stop()
    try:
        with pytest.raises(Retry) as caught:
            register(client, store, job("uid-5"))
        assert caught.value.reason == "registry_unavailable"
    finally:
        registry.start()
    assert register(client, store, job("uid-5")).created is True
