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


def test_a_model_that_is_no_label_value_is_refused() -> None:
    with pytest.raises(JobManifestError, match="not a label value"):
        prepare_job(json.dumps(JOB), model="bad model")
