"""The pure functions over job objects: phases per kind, times, URIs, params, images, PVCs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from glue.artifacts.manifest import digest_bytes
from glue.controller import jobs
from glue.controller.jobs import BadJob, JobOutput
from glue.model_registry import schemas

PYTORCH, TF, XGB, MPI, BATCH, VOLCANO = jobs.WATCHED
T0 = "2026-11-30T10:00:00Z"
DIGEST = "sha256:" + "0f" * 32


def condition(kind: str, status: str = "True", **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, "lastTransitionTime": T0, **extra}


def job(
    kind: jobs.JobKind = PYTORCH,
    *,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    model: str = "digits",
    pod: dict[str, Any] | None = None,
) -> dict[str, Any]:
    pod = pod or {"containers": [{"name": "main", "image": f"repo/train@{DIGEST}"}]}
    if kind.replica_specs:
        spec: dict[str, Any] = {
            kind.replica_specs: {
                "Worker": {"template": {"spec": {"containers": [{"name": "w", "image": "w:1"}]}}},
                "Master": {"template": {"spec": pod}},
            }
        }
    elif kind.group == "batch.volcano.sh":
        spec = {"tasks": [{"name": "trainer", "template": {"spec": pod}}]}
    else:
        spec = {"template": {"spec": pod}}
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {
            "name": "train-1",
            "namespace": "cv",
            "uid": "0f6a-uid",
            "labels": {jobs.MODEL_LABEL: model},
            "annotations": annotations or {},
        },
        "spec": spec,
        "status": status or {},
    }


@pytest.mark.parametrize("kind", [PYTORCH, TF, XGB, MPI])
def test_kubeflow_phases_come_from_true_conditions(kind: jobs.JobKind) -> None:
    assert jobs.phase(kind, job(kind)) == "Running"
    running = {"conditions": [condition("Created"), condition("Running")]}
    assert jobs.phase(kind, job(kind, status=running)) == "Running"
    done = {"conditions": [condition("Running", "False"), condition("Succeeded")]}
    assert jobs.phase(kind, job(kind, status=done)) == "Succeeded"
    assert jobs.phase(kind, job(kind, status={"conditions": [condition("Failed")]})) == "Failed"
    not_yet = {"conditions": [condition("Succeeded", "False")]}
    assert jobs.phase(kind, job(kind, status=not_yet)) == "Running"
    # a restarting job (Failed condition False) is not final
    restarting = {"conditions": [condition("Restarting"), condition("Failed", "False")]}
    assert jobs.phase(kind, job(kind, status=restarting)) == "Running"


def test_batch_job_phases() -> None:
    assert jobs.phase(BATCH, job(BATCH, status={"conditions": [condition("Complete")]})) == (
        "Succeeded"
    )
    met = {"conditions": [condition("SuccessCriteriaMet")]}
    assert jobs.phase(BATCH, job(BATCH, status=met)) == "Succeeded"
    assert jobs.phase(BATCH, job(BATCH, status={"conditions": [condition("Failed")]})) == "Failed"
    # FailureTarget only announces Failed; Succeeded is not a batch/v1 condition
    for name in ("FailureTarget", "Succeeded", "Suspended"):
        status = {"conditions": [condition(name)]}
        assert jobs.phase(BATCH, job(BATCH, status=status)) == "Running"


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("Pending", "Running"),
        ("Running", "Running"),
        ("Completing", "Running"),
        ("Restarting", "Running"),
        ("Aborting", "Running"),
        ("Terminating", "Running"),
        ("Completed", "Succeeded"),
        ("Failed", "Failed"),
        ("Aborted", "Failed"),
        ("Terminated", "Failed"),
    ],
)
def test_volcano_phases(state: str, phase: str) -> None:
    status = {"state": {"phase": state, "lastTransitionTime": T0}}
    assert jobs.phase(VOLCANO, job(VOLCANO, status=status)) == phase


def test_completion_times() -> None:
    t0 = datetime(2026, 11, 30, 10, tzinfo=UTC)
    done = {"completionTime": "2026-11-30T10:00:00Z", "conditions": [condition("Succeeded")]}
    assert jobs.completion_time(PYTORCH, job(status=done)) == t0
    failed = {"conditions": [condition("Failed")]}  # batch/v1 sets no completionTime on failure
    assert jobs.completion_time(BATCH, job(BATCH, status=failed)) == t0
    volcano = {"state": {"phase": "Completed", "lastTransitionTime": T0}}
    assert jobs.completion_time(VOLCANO, job(VOLCANO, status=volcano)) == t0
    assert jobs.completion_time(PYTORCH, job()) is None
    assert jobs.parse_time("yesterday") is None


def test_failure_message() -> None:
    failed = {"conditions": [condition("Failed", reason="PyTorchJobFailed", message="OOM\n")]}
    assert jobs.failure_message(PYTORCH, job(status=failed)) == "PyTorchJobFailed: OOM"
    aborted = {"state": {"phase": "Aborted", "reason": "PodEvicted"}}
    assert jobs.failure_message(VOLCANO, job(VOLCANO, status=aborted)) == "Aborted: PodEvicted"


def test_kind_of() -> None:
    assert jobs.kind_of(job(BATCH)) is BATCH
    assert jobs.kind_of(job(VOLCANO)) is VOLCANO
    with pytest.raises(BadJob, match="apiVersion"):
        jobs.kind_of({"apiVersion": "kubeflow.org/v1", "kind": "PaddleJob"})


def test_model_label_must_be_a_model_name() -> None:
    assert jobs.model_name(job()) == "digits"
    with pytest.raises(BadJob, match=r"metadata\.labels\.kubeai\.dev/model"):
        jobs.model_name(job(model="Digits_V2"))


def test_artifact_uri_annotation_or_convention() -> None:
    assert jobs.artifact_uri(job(), root="s3://kubeai/", team="cv") == (
        "s3://kubeai/teams/cv/models/digits/jobs/0f6a-uid"
    )
    annotated = job(annotations={jobs.ARTIFACT_URI_ANNOTATION: "s3://b/run-7/"})
    assert jobs.artifact_uri(annotated, root="s3://kubeai", team="cv") == "s3://b/run-7"


def test_params_from_env_and_annotation() -> None:
    pod = {
        "containers": [
            {
                "name": "main",
                "image": "x:1",
                "env": [
                    {"name": "KUBEAI_PARAM_LR", "value": "0.1"},
                    {"name": "KUBEAI_PARAM_EPOCHS", "value": "3"},
                    {"name": "KUBEAI_PARAM_SECRET", "valueFrom": {"secretKeyRef": {}}},
                    {"name": "OTHER", "value": "x"},
                ],
            }
        ]
    }
    given = {jobs.PARAMS_ANNOTATION: json.dumps({"epochs": 5, "amp": True, "optimizer": "adam"})}
    assert jobs.params(PYTORCH, job(pod=pod, annotations=given)) == {
        "lr": "0.1",
        "epochs": "5",
        "amp": "true",
        "optimizer": "adam",
    }
    # the primary replica is Master even though Worker sorts first
    assert jobs.params(PYTORCH, job(pod=pod))["lr"] == "0.1"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "kubeai.dev/params"),
        ("[1, 2]", "kubeai.dev/params"),
        ('{"lr": [1]}', "kubeai.dev/params.lr"),
        ('{"bad key": 1}', "kubeai.dev/params.bad key"),
    ],
)
def test_bad_params_name_the_annotation(raw: str, field: str) -> None:
    with pytest.raises(BadJob) as caught:
        jobs.params(PYTORCH, job(annotations={jobs.PARAMS_ANNOTATION: raw}))
    assert caught.value.field == f"metadata.annotations.{field}"


def test_images_and_pinning() -> None:
    found, pinned = jobs.images(PYTORCH, job())
    assert found == {"image.master.main": f"repo/train@{DIGEST}", "image.worker.w": "w:1"}
    assert pinned is False
    found, pinned = jobs.images(BATCH, job(BATCH))
    assert found == {"image.job.main": f"repo/train@{DIGEST}"} and pinned is True
    pod = {
        "initContainers": [{"name": "fetch", "image": f"fetch@{DIGEST}"}],
        "containers": [{"name": "main", "image": f"repo/train:1@{DIGEST}"}],
    }
    found, pinned = jobs.images(VOLCANO, job(VOLCANO, pod=pod))
    assert set(found) == {"image.trainer.fetch", "image.trainer.main"} and pinned is True


def test_claim_names_and_dataset_annotation() -> None:
    pod = {
        "containers": [{"name": "main", "image": "x:1"}],
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "imagenet"}},
            {"name": "again", "persistentVolumeClaim": {"claimName": "imagenet"}},
            {"name": "ckpt", "persistentVolumeClaim": {"claimName": "checkpoints"}},
        ],
    }
    assert jobs.claim_names(PYTORCH, job(pod=pod)) == ["imagenet", "checkpoints"]
    assert jobs.dataset_annotation(job()) is None
    assert jobs.dataset_annotation(job(annotations={jobs.DATASET_ANNOTATION: " mnist "})) == "mnist"


def test_formats_and_side_files() -> None:
    assert jobs.model_format("", "python") == "triton-python"
    assert jobs.model_format("onnxruntime_onnx", "") == "onnx"
    with pytest.raises(BadJob, match=r"config\.pbtxt"):
        jobs.model_format("", "vllm")
    assert jobs.parse_metrics(b'{"accuracy": 1, "loss": 0.5}') == {"accuracy": 1.0, "loss": 0.5}
    for raw, where in ((b"[]", "metrics.json"), (b'{"a": true}', "metrics.json.a"), (b"x", "")):
        with pytest.raises(BadJob, match=re.escape(f"artifact {where}")):
            jobs.parse_metrics(raw)
    with pytest.raises(BadJob, match=r"manifest\.json"):
        jobs.parse_manifest(b'{"files": {"../x": {"sha256": "0", "size": 1}}}')


def test_build_version() -> None:
    digest = digest_bytes(b"config")
    output = JobOutput(
        model_uri="s3://b/run/model",
        manifest=jobs.parse_manifest(
            json.dumps({"files": {"config.pbtxt": digest.model_dump()}}).encode()
        ),
        signature=schemas.Signature.model_validate(
            {
                "inputs": [{"name": "X", "datatype": "FP32", "dims": [-1, 4]}],
                "outputs": [{"name": "Y", "datatype": "FP32", "dims": [-1, 1]}],
            }
        ),
        format="onnx",
        metrics={"accuracy": 0.9},
    )
    body = jobs.build_version(BATCH, job(BATCH), output=output, dataset="mnist")
    assert body.source.model_dump() == {
        "kind": "Job",
        "namespace": "cv",
        "name": "train-1",
        "uid": "0f6a-uid",
    }
    assert body.params == {"image.job.main": f"repo/train@{DIGEST}", "images-pinned": "true"}
    assert body.dataset == "mnist" and body.format == "onnx" and body.metrics == {"accuracy": 0.9}
    with pytest.raises(BadJob, match="version body dataset"):
        jobs.build_version(BATCH, job(BATCH), output=output, dataset="Not A Name")
