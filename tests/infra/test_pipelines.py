"""infra/pipelines.py and ``TeamTenancy._pipelines``: the team stack installs the model-iteration
WorkflowTemplate and the retraining CronWorkflows of ``kubeai:pipelines`` in the team namespace,
valid against the pinned Argo CRDs and rendered with the platform's glue image and registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from infra.mocks import reveal
from infra.pipelines import pipeline_manifests
from infra.tenancy import check_platform, executor_rules
from tests.infra import crd_schema, factories

TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
NAMESPACE = ("kubernetes:core/v1:Namespace", "team-namespace")

JOB: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "resnet-train"},
    "spec": {
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "template": {
                    "spec": {"containers": [{"name": "pytorch", "image": "train.invalid/r:1"}]}
                },
            }
        }
    },
}
RETRAINING = {
    "retraining": [
        {
            "name": "resnet-nightly",
            "schedule": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "model": "resnet50",
            "service": "resnet",
            "dataset": "imagenet",
            "maxP99LatencyMs": 20,
            "job": JOB,
        }
    ]
}


def _container_steps(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in spec["templates"] if "container" in t]


def test_the_team_stack_installs_the_template_in_the_team_namespace(team_run) -> None:
    run = team_run("eks")
    [resource] = run.of_type(TEMPLATE)
    assert resource.name == "team-pipeline-template"
    assert run.waits_for(resource.key, [NAMESPACE])
    manifest = reveal(resource.inputs)
    assert manifest["metadata"]["name"] == "model-iteration"
    assert manifest["metadata"]["namespace"] == "cv"
    assert crd_schema.errors(manifest) == []
    assert run.of_type(CRON) == []
    outputs = factories.outputs_of(factories.platform_config("eks"))
    for template in _container_steps(manifest["spec"]):
        container = template["container"]
        assert container["image"] == outputs.glue_image
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["KUBEAI_REGISTRY_URL"] == outputs.registry_url
        assert env["KUBEAI_TEAM"] == "cv"


def test_the_template_equals_the_pure_rendering(team_run) -> None:
    run = team_run("eks")
    manifest = reveal(run.one(TEMPLATE, "team-pipeline-template").inputs)
    config = factories.team_config()
    platform = factories.outputs_of(factories.platform_config("eks"))
    [expected] = pipeline_manifests(config, platform)
    assert manifest["spec"] == expected["spec"]


def test_retraining_schedules_become_cron_workflows(team_run) -> None:
    run = team_run("eks", pipelines=RETRAINING)
    [cron] = run.of_type(CRON)
    assert cron.name == "team-pipeline-cron-resnet-nightly"
    assert run.waits_for(cron.key, [NAMESPACE])
    manifest = reveal(cron.inputs)
    assert crd_schema.errors(manifest) == []
    spec = manifest["spec"]
    assert spec["schedules"] == ["0 3 * * *"] and spec["timezone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == "Forbid"
    workflow = spec["workflowSpec"]
    assert workflow["workflowTemplateRef"] == {"name": "model-iteration"}
    values = {p["name"]: p["value"] for p in workflow["arguments"]["parameters"]}
    assert values["max-p99-latency-ms"] == "20" and values["dataset"] == "imagenet"
    assert json.loads(values["training-job"]) == JOB


def test_model_iteration_off_installs_nothing(team_run) -> None:
    run = team_run("eks", pipelines={"modelIteration": False})
    assert run.of_type(TEMPLATE) == [] and run.of_type(CRON) == []


def test_a_platform_without_argo_refuses_the_pipelines() -> None:
    platform = factories.outputs_of(
        factories.platform_config("eks", addons={"argo": {"enabled": False}})
    )
    with pytest.raises(ConfigError) as caught:
        check_platform(factories.team_config(), platform)
    assert [p for p, _ in caught.value.problems] == ["kubeai:pipelines.modelIteration"]
    with pytest.raises(ConfigError) as caught:
        check_platform(factories.team_config(pipelines=RETRAINING), platform)
    assert [p for p, _ in caught.value.problems] == ["kubeai:pipelines.retraining"]
    check_platform(factories.team_config(pipelines={"modelIteration": False}), platform)


def test_the_registry_token_is_projected_only_when_the_platform_has_an_audience() -> None:
    config = factories.team_config()
    platform = factories.outputs_of(factories.platform_config("eks"))
    with_audience = platform.model_copy(update={"registry_audience": "kubeai-registry"})
    without = platform.model_copy(update={"registry_audience": None})
    [template] = pipeline_manifests(config, with_audience)
    [volume] = template["spec"]["volumes"]
    projection = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert projection["audience"] == "kubeai-registry"
    [bare] = pipeline_manifests(config, without)
    assert "volumes" not in bare["spec"]
    assert all(
        "KUBEAI_REGISTRY_TOKEN_FILE" not in {e["name"] for e in t["container"]["env"]}
        for t in _container_steps(bare["spec"])
    )


def test_the_executor_may_create_and_watch_what_the_resource_steps_create() -> None:
    """The train and warm-cache steps run ``kubectl create`` and poll the object as the
    workflow's ServiceAccount; their outputs read it with ``kubectl get``."""
    rules = executor_rules()

    def allowed(group: str, resource: str, verb: str) -> bool:
        return any(
            group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
            for r in rules
        )

    for group, resource in (("kubeflow.org", "pytorchjobs"), ("data.fluid.io", "dataloads")):
        assert all(allowed(group, resource, verb) for verb in ("create", "get"))


def test_the_executor_may_read_each_pipeline_job_kind_and_list_events_only() -> None:
    """``wait-version`` reads its job's outcome annotation (``get`` on every kind
    ``prepare-job`` accepts, MPIJob included) and the controller's Event (``list`` on core
    events, nothing more)."""
    from glue.pipelines.training_job import JOB_KINDS

    rules = executor_rules()
    for kind in JOB_KINDS:
        assert any(
            "kubeflow.org" in r["apiGroups"]
            and f"{kind.lower()}s" in r["resources"]
            and {"get", "create"} <= set(r["verbs"])
            for r in rules
        ), kind
    events = [r for r in rules if "events" in r["resources"]]
    assert events == [{"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]
