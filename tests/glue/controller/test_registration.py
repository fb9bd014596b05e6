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
from glue.model_registry import schemas
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


@pytest.mark.parametrize(
    "given",
    [
        "{root}/teams/nlp/models/digits/jobs/uid-1",  # another team's output (the trial's forgery)
        "{root}/teams/cv-evil/models/digits/jobs/uid-1",  # prefix confusion
        "{root}/teams/cv/../nlp/models/digits/jobs/uid-1",  # dot segments
        "{root}/teams/cv/%2e%2e/nlp/models/digits/jobs/uid-1",  # encoded dot segments
        "{root}/teams/cv/models/digits/jobs/uid-1?x=1",  # a query
        "{root}/teams",  # above the team
        "{root}/teams/cv",  # the prefix itself holds no job output
        "s3://other-bucket/teams/cv/models/digits/jobs/uid-1",  # another store
        "file:///etc/teams/cv/models/digits/jobs/uid-1",  # outside the artifact root
    ],
)
def test_an_output_outside_the_teams_prefix_is_refused(
    client: RegistryClient, store: ArtifactStore, given: str
) -> None:
    root = write(store, "uid-1")
    # the other team's output exists and is readable with the controller's credentials
    nlp = Path(store.local_root) / "teams" / "nlp" / "models" / "digits" / "jobs" / "uid-1"
    nlp.parent.mkdir(parents=True)
    (Path(store.local_root) / "teams" / "cv" / "models" / "digits" / "jobs" / "uid-1").rename(nlp)
    body = job("uid-1", **{jobs.ARTIFACT_URI_ANNOTATION: given.format(root=root)})
    body["metadata"]["namespace"] = "nlp"
    with pytest.raises(Refused) as caught:
        register_job(
            kind=BATCH, body=body, team="cv", registry=client, store=store, root=root, dataset=None
        )
    assert caught.value.field == "metadata.annotations.kubeai.dev/artifact-uri"
    assert f"below {root}/teams/cv/" in str(caught.value)
    assert client.list_models().total == 0


def test_the_trial_forgery_is_refused_for_the_forging_team(
    registry: RegistryServer, store: ArtifactStore
) -> None:
    """nlp's Job annotated with cv's output: no nlp/digits version from cv's files."""
    root = f"file://{store.local_root}"
    cv = jobs.default_artifact_uri(root=root, team="cv", model="digits", uid="uid-1")
    write(store, "uid-1")
    body = job("uid-9", **{jobs.ARTIFACT_URI_ANNOTATION: cv})
    body["metadata"]["namespace"] = "nlp"
    with registry.client(team="nlp") as nlp, pytest.raises(Refused) as caught:
        register_job(
            kind=BATCH, body=body, team="nlp", registry=nlp, store=store, root=root, dataset=None
        )
    assert "kubeai.dev/artifact-uri" in caught.value.field
    assert f"{root}/teams/nlp/" in str(caught.value)


def test_an_annotated_output_inside_the_teams_prefix_is_registered(
    client: RegistryClient, store: ArtifactStore
) -> None:
    root = write(store, "uid-6")
    uri = jobs.default_artifact_uri(root=root, team="cv", model="digits", uid="uid-6")
    assert register(client, store, job("uid-7", **{jobs.ARTIFACT_URI_ANNOTATION: uri})).created


def fluid_dataset(client: RegistryClient, name: str, namespace: str = "cv") -> None:
    client.sync_dataset(
        name,
        schemas.DatasetSync(
            source=schemas.DatasetSource(namespace=namespace, name=name, uid=f"uid-{name}"),
            mounts=[schemas.DatasetMount(mount_point=f"s3://data/{name}")],
        ),
    )


def mounting(body: dict[str, Any], *claims: str) -> dict[str, Any]:
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims
    ]
    return body


def test_an_annotated_fluid_dataset_must_be_mounted(
    client: RegistryClient, store: ArtifactStore
) -> None:
    fluid_dataset(client, "mnist")
    write(store, "uid-8")
    named = {jobs.DATASET_ANNOTATION: "mnist"}
    for body in (job("uid-8", **named), mounting(job("uid-8", **named), "other")):
        with pytest.raises(Refused) as caught:
            register(client, store, body, dataset="mnist")
        assert caught.value.field == "metadata.annotations.kubeai.dev/dataset"
        assert "mount its PVC 'mnist'" in str(caught.value)
    registered = register(client, store, mounting(job("uid-8", **named), "mnist"), dataset="mnist")
    (version,) = client.list_versions("digits", source_uid="uid-8").items
    assert registered.created and version.dataset == "mnist"


def test_an_annotated_fluid_dataset_of_another_namespace_is_refused(
    client: RegistryClient, store: ArtifactStore
) -> None:
    fluid_dataset(client, "imagenet", namespace="cv-data")
    write(store, "uid-10")
    body = mounting(job("uid-10", **{jobs.DATASET_ANNOTATION: "imagenet"}), "imagenet")
    with pytest.raises(Refused, match="namespace 'cv-data'"):
        register(client, store, body, dataset="imagenet")


def test_an_annotated_file_dataset_is_taken_by_name(
    client: RegistryClient, store: ArtifactStore, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "train.csv").write_text("x\n1\n")
    uri = store.local_uri("teams", "cv", "datasets", "csv")
    store.upload_dir(files, uri)
    client.register_dataset(
        schemas.DatasetCreate(name="csv", uri=uri, manifest=build_manifest(files), rows=1)
    )
    write(store, "uid-11")
    body = job("uid-11", **{jobs.DATASET_ANNOTATION: "csv"})
    assert register(client, store, body, dataset="csv").created
