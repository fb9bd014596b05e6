"""glue/pipelines/templates.py: the model-iteration WorkflowTemplate, its CronWorkflow and a run,
checked against the pinned Argo CRDs and for the wiring Argo resolves only at run time
(parameters, step outputs, when-expressions)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from glue.pipelines import conditions
from glue.pipelines.templates import (
    PARAMETERS,
    TEMPLATE_NAME,
    PipelineSettings,
    build_cron_workflow,
    build_workflow,
    build_workflow_template,
)
from tests.infra import crd_schema

SETTINGS = PipelineSettings(
    namespace="cv",
    team="cv",
    image="ghcr.io/kubeai/kubeai-glue:0123abc",
    registry_url="http://kubeai-registry.kubeai-system.svc:8080",
    audience="kubeai-registry",
    image_pull_secrets=("ghcr-pull",),
)
REQUIRED = {"model": "digits", "service": "digits", "training-job": "{}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return build_workflow_template(SETTINGS)


def _templates(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["spec"]["templates"]}


def _steps(template: dict[str, Any]) -> list[dict[str, Any]]:
    entry = _templates(template)[template["spec"]["entrypoint"]]
    return [step for group in entry["steps"] for step in group]


def test_the_template_is_admitted_by_the_pinned_crd(template: dict[str, Any]) -> None:
    assert crd_schema.errors(template) == []
    assert template["metadata"] == {
        "name": TEMPLATE_NAME,
        "namespace": "cv",
        "labels": {"app.kubernetes.io/part-of": "kubeai", "kubeai.dev/pipeline": TEMPLATE_NAME},
    }
    spec = template["spec"]
    assert spec["serviceAccountName"] == "kubeai-workflow"
    assert spec["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    declared = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    assert declared == {name: default for name, (default, _) in PARAMETERS.items()}


def test_the_steps_run_in_order(template: dict[str, Any]) -> None:
    assert [s["name"] for s in _steps(template)] == [
        "prepare", "warm-cache", "train", "wait-version", "canary", "verify", "release",
        "rollback",
    ]  # fmt: skip


def test_the_training_step_is_owned_and_reads_the_operators_conditions(
    template: dict[str, Any],
) -> None:
    resource = _templates(template)["train"]["resource"]
    assert resource["action"] == "create"
    assert resource["setOwnerReference"] is True
    assert resource["successCondition"] == conditions.TRAINING_SUCCESS
    assert resource["failureCondition"] == conditions.TRAINING_FAILURE
    outputs = {
        p["name"]: p["valueFrom"] for p in _templates(template)["train"]["outputs"]["parameters"]
    }
    assert outputs == {
        "job-name": {"jsonPath": "{.metadata.name}"},
        "job-uid": {"jsonPath": "{.metadata.uid}"},
        "job-kind": {"jsonPath": "{.kind}"},  # wait-version reads the job's outcome
    }


def test_the_dataload_is_a_valid_fluid_object(template: dict[str, Any]) -> None:
    warm = _templates(template)["warm-cache"]["resource"]
    assert warm["setOwnerReference"] is True and warm["action"] == "create"
    assert (warm["successCondition"], warm["failureCondition"]) == (
        conditions.DATALOAD_SUCCESS,
        conditions.DATALOAD_FAILURE,
    )
    filled = (
        warm["manifest"]
        .replace("{{workflow.name}}", "model-iteration-x7k2q")
        .replace("{{workflow.namespace}}", "cv")
        .replace("{{workflow.parameters.dataset}}", "mnist")
        .replace("{{workflow.parameters.model}}", "digits")
    )
    manifest = yaml.safe_load(filled)
    manifest["metadata"]["name"] = "x"
    assert crd_schema.errors(manifest) == []
    [step] = [s for s in _steps(template) if s["name"] == "warm-cache"]
    assert step["when"] == "'{{workflow.parameters.dataset}}' != ''"


def test_every_reference_resolves(template: dict[str, Any]) -> None:
    """Workflow parameters exist; a template's inputs are the ones it reads; step arguments
    give exactly a template's inputs; step outputs read are produced by an earlier step."""
    templates = _templates(template)
    text = yaml.safe_dump(template)
    for name in re.findall(r"\{\{workflow\.parameters\.([a-z0-9-]+)\}\}", text):
        assert name in PARAMETERS, name
    for name, spec in templates.items():
        declared = {p["name"] for p in spec.get("inputs", {}).get("parameters", [])}
        used = set(re.findall(r"\{\{inputs\.parameters\.([a-z0-9-]+)\}\}", yaml.safe_dump(spec)))
        assert used == declared, name
    produced: dict[str, set[str]] = {}
    for step in _steps(template):
        target = templates[step["template"]]
        given = {p["name"] for p in step.get("arguments", {}).get("parameters", [])}
        assert given == {p["name"] for p in target.get("inputs", {}).get("parameters", [])}
        for ref_step, ref_out in re.findall(
            r"steps\.([a-z0-9-]+)\.outputs\.parameters\.([a-z0-9-]+)", yaml.safe_dump(step)
        ):
            assert ref_out in produced.get(ref_step, set()), (step["name"], ref_step, ref_out)
        produced[step["name"]] = {
            p["name"] for p in target.get("outputs", {}).get("parameters", [])
        }


def test_wait_version_reads_the_trained_job(template: dict[str, Any]) -> None:
    """wait-version gets the job's kind, name and namespace to read the controller's outcome."""
    _, *args = _templates(template)["wait-version"]["container"]["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--job-kind"] == "{{inputs.parameters.job-kind}}"
    assert options["--job-name"] == "{{inputs.parameters.job-name}}"
    assert options["--namespace"] == "{{workflow.namespace}}"


def test_release_and_rollback_are_decided_by_verify(template: dict[str, Any]) -> None:
    steps = {s["name"]: s for s in _steps(template)}
    passed = "{{steps.verify.outputs.parameters.passed}}"
    assert steps["release"]["when"] == f"{passed} == true"
    assert steps["rollback"]["when"] == f"{passed} != true"
    assert steps["verify"]["continueOn"] == {"failed": True}
    verify_outputs = {
        p["name"]: p["valueFrom"] for p in _templates(template)["verify"]["outputs"]["parameters"]
    }
    assert verify_outputs["passed"]["default"] == "false"  # a crashed verify rolls back


def test_verify_gets_every_threshold(template: dict[str, Any]) -> None:
    """The gate's thresholds are the workflow's parameters: error ratio, both latency bounds
    (``max-p99-ratio`` empty by default: not judged) and the requests it needs."""
    _, *args = _templates(template)["verify"]["container"]["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert {k: v for k, v in options.items() if k.startswith(("--max", "--min", "--window"))} == {
        "--window": "{{workflow.parameters.verify-window}}",
        "--max-error-ratio": "{{workflow.parameters.max-error-ratio}}",
        "--max-p99-ms": "{{workflow.parameters.max-p99-latency-ms}}",
        "--max-p99-ratio": "{{workflow.parameters.max-p99-ratio}}",
        "--min-requests": "{{workflow.parameters.min-requests}}",
    }
    assert options["--ready-timeout"] == "{{workflow.parameters.canary-ready-timeout}}"
    assert PARAMETERS["max-p99-ratio"][0] == "" and PARAMETERS["min-requests"][0] == "20"


def test_container_steps_are_pinned_bounded_and_unprivileged(template: dict[str, Any]) -> None:
    containers = [t["container"] for t in template["spec"]["templates"] if "container" in t]
    assert len(containers) == 6
    for container in containers:
        assert container["image"] == SETTINGS.image
        assert container["command"] == ["python", "-m", "glue.cli.main", "pipeline", "step"]
        assert set(container["resources"]) == {"requests", "limits"}
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["KUBEAI_REGISTRY_TOKEN_FILE"] == "/var/run/secrets/kubeai/registry/token"
        mounts = {m["name"] for m in container["volumeMounts"]}
        assert mounts == {"outputs", "registry-token"}
    [volume] = template["spec"]["volumes"]
    projection = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert projection == {"audience": "kubeai-registry", "expirationSeconds": 3600, "path": "token"}


def test_cron_workflow() -> None:
    cron = build_cron_workflow(
        "cv", "digits-nightly", schedule="0 3 * * *", timezone="UTC", parameters=REQUIRED
    )
    assert crd_schema.errors(cron) == []
    spec = cron["spec"]
    assert spec["schedules"] == ["0 3 * * *"] and spec["concurrencyPolicy"] == "Forbid"
    assert "suspend" not in spec
    assert spec["workflowSpec"]["workflowTemplateRef"] == {"name": TEMPLATE_NAME}
    suspended = build_cron_workflow(
        "cv", "n", schedule="@daily", timezone="UTC", parameters=REQUIRED, suspend=True
    )
    assert suspended["spec"]["suspend"] is True


def test_workflow() -> None:
    workflow = build_workflow("cv", REQUIRED)
    assert crd_schema.errors(workflow) == []
    assert workflow["metadata"]["labels"]["kubeai.dev/model"] == "digits"


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"model": "m", "service": "s"}, "training-job: required"),
        ({**REQUIRED, "canary": "0.1"}, "canary: no parameter"),
        ({**REQUIRED, "model": "Digits_V2"}, "model: 'Digits_V2'"),
        ({**REQUIRED, "canary-share": "7"}, "canary-share: '7'"),
        ({**REQUIRED, "max-error-ratio": "NaN"}, "max-error-ratio: 'NaN': must be a finite"),
        ({**REQUIRED, "verify-window": "3601"}, "verify-window: '3601'"),
    ],
)
def test_bad_parameters_are_named(parameters: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_workflow("cv", parameters)
    with pytest.raises(ValueError, match=words):
        build_cron_workflow("cv", "n", schedule="@daily", timezone="UTC", parameters=parameters)
