"""glue/pipelines/training_job.py: the user's job made fit for the train step, or refused with
the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from glue.pipelines.training_job import JobManifestError, dumps, prepare_job

JOB: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "digits-train", "labels": {"team": "cv"}},
    "spec": {"pytorchReplicaSpecs": {}},
}


def test_label_generate_name_and_namespace() -> None:
    prepared = prepare_job(
        yaml.safe_dump({**JOB, "metadata": {**JOB["metadata"], "namespace": "cv"}}),
        model="digits",
        namespace="cv",
    )
    assert prepared["metadata"] == {
        "generateName": "digits-train-",
        "labels": {"team": "cv", "kubeai.dev/model": "digits"},
    }
    assert prepared["spec"] == JOB["spec"]
    assert json.loads(dumps(prepared)) == prepared


def test_without_a_name_the_model_names_the_jobs() -> None:
    job = {**JOB, "metadata": {}}
    assert prepare_job(json.dumps(job), model="digits")["metadata"]["generateName"] == "digits-"
    given = {**JOB, "metadata": {"generateName": "nightly-"}}
    assert prepare_job(json.dumps(given), model="d")["metadata"]["generateName"] == "nightly-"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: [", "not valid YAML or JSON at line"),
        ("- 1\n", "exactly one object"),
        ("a: 1\n---\nb: 2\n", "exactly one object"),
        (json.dumps({**JOB, "apiVersion": "kubeflow.org/v2"}), "apiVersion/kind"),
        (json.dumps({**JOB, "kind": "Job"}), "apiVersion/kind"),
        (json.dumps({**JOB, "spec": None}), "spec: must be a mapping"),
        (json.dumps({**JOB, "metadata": []}), "metadata: must be a mapping"),
        (json.dumps({**JOB, "metadata": {"labels": ["x"]}}), "metadata.labels: must be"),
        (json.dumps({**JOB, "metadata": {"namespace": "ops"}}), "metadata.namespace 'ops'"),
        (
            json.dumps({**JOB, "metadata": {"labels": {"kubeai.dev/model": "x"}}}),
            "differs from the pipeline's model 'digits'",
        ),
        (json.dumps({**JOB, "metadata": {"name": "n" * 60}}), "at most 57 characters"),
    ],
)
def test_refusals_name_the_field(text: str, words: str) -> None:
    with pytest.raises(JobManifestError, match=words):
        prepare_job(text, model="digits", namespace="cv")


@pytest.mark.parametrize("model", ["bad model", "Digits_V2", "a.b", "", "d" * 64, "-d"])
def test_a_model_that_is_no_registry_name_is_refused(model: str) -> None:
    """The registry's model-name rule (``schemas.Name``), not a label value's: ``Digits_V2`` and
    ``a.b`` are label values the registry refuses hours later."""
    with pytest.raises(JobManifestError, match=f"model {model!r}: not a registry model name"):
        prepare_job(json.dumps(JOB), model=model)


def test_a_manifest_copied_from_kubectl_get_loses_what_the_server_set() -> None:
    """``kubectl get -o yaml`` of a registered job: server-set metadata, ``status`` and the
    controller's outcome annotations (``kubeai.dev/registration: Registered``,
    ``kubeai.dev/model-version``; the controller never handles a job carrying them) are
    dropped; the user's own annotations and labels stay."""
    copied = {
        **JOB,
        "metadata": {
            "name": "digits-train",
            "namespace": "cv",
            "uid": "0b4f0e5e-7b61-4a39-9a7e-3f1c1c0f6a10",
            "resourceVersion": "48213",
            "generation": 1,
            "creationTimestamp": "2026-11-29T03:00:04Z",
            "managedFields": [{"manager": "kubectl-create", "operation": "Update"}],
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "old",
                 "uid": "5d0c", "controller": True}
            ],
            "labels": {"kubeai.dev/model": "digits", "team": "cv"},
            "annotations": {
                "kubeai.dev/registration": "Registered",
                "kubeai.dev/model-version": "7",
                "kopf.kubeai.dev/register.status": "{}",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kubeai.dev/artifact-uri": "s3://models/cv/digits/run-7",
            },
        },
        "status": {"conditions": [{"type": "Succeeded", "status": "True"}]},
    }  # fmt: skip
    prepared = prepare_job(yaml.safe_dump(copied), model="digits", namespace="cv")
    assert "status" not in prepared
    assert prepared["metadata"] == {
        "generateName": "digits-train-",
        "labels": {"kubeai.dev/model": "digits", "team": "cv"},
        "annotations": {"kubeai.dev/artifact-uri": "s3://models/cv/digits/run-7"},
    }
    only_outcome = {**JOB, "metadata": {"annotations": {"kubeai.dev/registration": "x"}}}
    assert "annotations" not in prepare_job(json.dumps(only_outcome), model="d")["metadata"]


def test_annotations_must_be_a_mapping() -> None:
    with pytest.raises(JobManifestError, match=r"metadata\.annotations: must be a mapping"):
        prepare_job(json.dumps({**JOB, "metadata": {"annotations": ["x"]}}), model="d")
