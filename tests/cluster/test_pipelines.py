"""The model-iteration pipeline on a real apiserver with the pinned CRDs (Argo Workflows v4.1.2,
training operator v1.9.4, Fluid v1.0.8; ``infra.upstream``).

* The apiserver admits the WorkflowTemplate and a CronWorkflow the team stack installs
  (``infra.pipelines.pipeline_manifests`` of the ``team-search-prod`` stack file with a
  retraining schedule added), and a Workflow created by ``kubeai pipeline submit`` through a
  kubeconfig (after its ``--dry-run`` output is admitted in a server-side dry run);
  ``kubeai pipeline status`` reads it back.
* Each status of the conditions table (``tests/glue/pipelines/test_conditions.py``) is written
  to a PyTorchJob's ``status`` as the operator would (no training operator runs here), read back
  as the apiserver serves it, and the training step's conditions conclude the same on it.
* The workflow ServiceAccount may create and read what the resource steps create (PyTorchJob,
  DataLoad), as the executor does, and nothing of the kind in another namespace.
* ``wait-version``, with a kubeconfig holding the workflow ServiceAccount's token (a
  TokenRequest, as the kubelet mounts it) and the executor Role, reads a job's
  ``kubeai.dev/registration: RegistrationFailed`` and the controller's Event (written here as
  the controller writes them) and stops at once with the Event's message.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from glue.cli.main import app
from glue.pipelines.conditions import TRAINING_FAILURE, TRAINING_SUCCESS, evaluate
from infra.config import PlatformConfig, TeamConfig, parse_config, platform_outputs
from infra.controlplane.harness import ControlPlane
from infra.pipelines import pipeline_manifests
from infra.tenancy import EXECUTOR_ROLE, executor_rules
from tests.cluster.test_tenancy import upstream_crds
from tests.glue.cli.conftest import publish_digits
from tests.glue.pipelines.test_conditions import TABLE
from tests.infra import factories
from tests.infra.test_pipelines import JOB, RETRAINING
from tests.support.kubeapi import (
    DRY_RUN,
    KubeApi,
    impersonating,
    message,
    service_account_user,
    token_request,
)
from tests.support.registry import RegistryServer

NAMESPACE = "pipelines"
OTHER = "pipelines-other"
GROUPS = ("argoproj.io", "kubeflow.org", "data.fluid.io")
runner = CliRunner()


def team_config() -> TeamConfig:
    """``team-search-prod`` renamed to the test's namespace, with a retraining schedule."""
    values = factories.stack_values("team-search-prod")
    values["team"]["name"] = NAMESPACE
    retraining = copy.deepcopy(RETRAINING["retraining"][0])
    retraining["service"] = values["inferenceServices"][0]["name"]
    retraining.pop("dataset")
    values["pipelines"] = {"retraining": [retraining]}
    config = parse_config(values)
    assert isinstance(config, TeamConfig)
    return config


@pytest.fixture(scope="module")
def kube(control_plane: ControlPlane) -> Iterator[KubeApi]:
    """The admin's API with the Argo, kubeflow and Fluid CRDs and two namespaces."""
    crds = [c for c in upstream_crds() if c["spec"]["group"] in GROUPS]
    with control_plane.client(timeout=60.0) as client:
        api = KubeApi(client)
        api.apply_all(crds)
        api.wait_established([c["metadata"]["name"] for c in crds])
        api.apply_all(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
            for n in (NAMESPACE, OTHER)
        )
        yield api


def test_the_apiserver_admits_the_team_stacks_pipeline(kube: KubeApi) -> None:
    config = team_config()
    platform_config = parse_config(factories.stack_values("prod-eks"))
    assert isinstance(platform_config, PlatformConfig)
    platform = platform_outputs(platform_config)
    manifests = pipeline_manifests(config, platform)
    assert [m["kind"] for m in manifests] == ["WorkflowTemplate", "CronWorkflow"]
    assert kube.apply_all(manifests) == 2
    for manifest in manifests:
        stored = kube.client.get(kube.object_path(manifest)).json()
        assert stored["spec"] == manifest["spec"], manifest["kind"]  # nothing pruned


def test_submit_creates_a_workflow_the_apiserver_admits(
    kube: KubeApi, control_plane: ControlPlane, tmp_path: Path
) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(JOB))
    args = ["pipeline", "submit", "--model", "digits", "--service", "digits", "--job", str(job)]
    r = runner.invoke(app, [*args, "-n", NAMESPACE, "--dry-run"])
    assert r.exit_code == 0, r.output
    printed = yaml.safe_load(r.output)
    path = kube.path("argoproj.io/v1alpha1", "Workflow", namespace=NAMESPACE)
    checked = kube.client.post(path, params=DRY_RUN, json=printed)
    assert checked.status_code == 201, message(checked)

    kubeconfig = control_plane.write_kubeconfig(tmp_path / "kubeconfig")
    r = runner.invoke(app, [*args, "-n", NAMESPACE, "--kubeconfig", str(kubeconfig)])
    assert r.exit_code == 0, r.output
    name = r.output.split(f"workflow {NAMESPACE}/", 1)[1].split()[0]
    stored = kube.client.get(f"{path}/{name}").json()
    assert stored["spec"]["workflowTemplateRef"] == {"name": "model-iteration"}
    values = {p["name"]: p["value"] for p in stored["spec"]["arguments"]["parameters"]}
    assert yaml.safe_load(values["training-job"]) == JOB

    r = runner.invoke(
        app, ["pipeline", "status", name, "-n", NAMESPACE, "--kubeconfig", str(kubeconfig)]
    )
    assert r.exit_code == 0, r.output
    assert f"workflow {NAMESPACE}/{name}: Pending" in r.output  # no Argo controller runs here


@pytest.fixture(scope="module")
def job_path(kube: KubeApi) -> str:
    """A PyTorchJob created in the namespace (its status is written by the test)."""
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "conditions", "namespace": NAMESPACE},
        "spec": copy.deepcopy(TABLE[0][1]["spec"]),
    }
    kube.apply_all([job])
    return kube.object_path(job)


@pytest.mark.parametrize(("case", "job", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_conditions_on_statuses_the_apiserver_serves(
    kube: KubeApi, job_path: str, case: str, job: dict[str, Any], expected: str
) -> None:
    current = kube.client.get(job_path).json()
    current["status"] = copy.deepcopy(job.get("status", {}))
    written = kube.client.put(f"{job_path}/status", content=json.dumps(current))
    assert written.status_code == 200, message(written)
    served = kube.client.get(job_path).json()
    assert served.get("status", {}) == job.get("status", {}), "the apiserver changed the status"
    assert evaluate(served, success=TRAINING_SUCCESS, failure=TRAINING_FAILURE) == expected


@pytest.mark.parametrize(
    ("api_version", "kind", "spec"),
    [
        ("kubeflow.org/v1", "PyTorchJob", JOB["spec"]),
        ("data.fluid.io/v1alpha1", "DataLoad", {"dataset": {"name": "d", "namespace": NAMESPACE}}),
    ],
)
def test_the_workflow_account_creates_what_the_resource_steps_create(
    kube: KubeApi, control_plane: ControlPlane, api_version: str, kind: str, spec: dict[str, Any]
) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": EXECUTOR_ROLE, "namespace": NAMESPACE},
        "rules": executor_rules(),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": EXECUTOR_ROLE, "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": "kubeai-workflow", "namespace": NAMESPACE}],
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "kubeai-workflow", "namespace": NAMESPACE},
    }
    kube.apply_all([account, role, binding])
    user = service_account_user(NAMESPACE, "kubeai-workflow")
    with impersonating(control_plane, user) as executor:
        for namespace, allowed in ((NAMESPACE, True), (OTHER, False)):
            body = {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": {"generateName": "step-", "namespace": namespace},
                "spec": spec,
            }
            path = kube.path(api_version, kind, namespace=namespace)
            created = executor.post(path, params=DRY_RUN, json=body)
            listed = executor.get(path)
            codes = (created.status_code, listed.status_code)
            assert codes == ((201, 200) if allowed else (403, 403)), (namespace, message(created))


def _executor(kube: KubeApi) -> None:
    """The ServiceAccount ``kubeai-workflow`` bound to the executor Role in ``NAMESPACE``."""
    kube.apply_all(
        [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "kubeai-workflow", "namespace": NAMESPACE},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": EXECUTOR_ROLE, "namespace": NAMESPACE},
                "rules": executor_rules(),
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": EXECUTOR_ROLE, "namespace": NAMESPACE},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": EXECUTOR_ROLE,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "kubeai-workflow", "namespace": NAMESPACE}
                ],
            },
        ]
    )


def test_wait_version_stops_at_the_controllers_registration_failure(
    kube: KubeApi,
    control_plane: ControlPlane,
    registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glue.controller import kube as controller_kube

    _executor(kube)
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": "failed-registration",
            "namespace": NAMESPACE,
            "labels": {"kubeai.dev/model": "digits"},
        },
        "spec": copy.deepcopy(JOB["spec"]),
    }
    kube.apply_all([job])
    path = kube.object_path(job)
    stored = kube.client.get(path).json()
    patched = kube.client.patch(
        path,
        json={"metadata": {"annotations": {"kubeai.dev/registration": "RegistrationFailed"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, message(patched)
    why = "artifact s3://models/pipelines/digits/x: no files at s3://models/.../model"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "failed-registration.", "namespace": NAMESPACE},
        "involvedObject": {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "name": "failed-registration",
            "namespace": NAMESPACE,
            "uid": stored["metadata"]["uid"],
        },
        "reason": "RegistrationFailed",
        "message": why,
        "type": "Warning",
        "source": {"component": "kopf"},
        "firstTimestamp": "2026-11-30T10:00:00Z",
        "lastTimestamp": "2026-11-30T10:00:00Z",
        "count": 1,
    }
    created = kube.client.post(f"/api/v1/namespaces/{NAMESPACE}/events", json=event)
    assert created.status_code == 201, message(created)

    token = token_request(kube, NAMESPACE, "kubeai-workflow")
    config = yaml.safe_load(control_plane.write_kubeconfig(tmp_path / "admin").read_text())
    config["users"] = [{"name": u["name"], "user": {"token": token}} for u in config["users"]]
    workflow_kubeconfig = tmp_path / "workflow-kubeconfig"
    workflow_kubeconfig.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(controller_kube, "SERVICE_ACCOUNT_DIR", tmp_path / "no-service-account")
    monkeypatch.setenv("KUBECONFIG", str(workflow_kubeconfig))
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version",
         "--model", "digits", "--job-uid", stored["metadata"]["uid"], "--job-kind",
         "PyTorchJob", "--job-name", "failed-registration", "--namespace", NAMESPACE,
         "--timeout", "60", "--interval", "0.2"],
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    assert f"recorded RegistrationFailed: {why}" in " ".join(r.output.split())
