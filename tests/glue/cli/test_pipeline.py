"""``kubeai pipeline``: submit (dry run, and to an apiserver stand-in that records requests),
status, and the step commands the template's containers run.

The step commands run against a real registry on loopback: ``wait-version`` finds a version by
its job's uid; ``canary``, ``verify``, ``release`` and ``rollback`` run the real canary gate
(``glue.pipelines.gate``), with pod status reports carrying ``traffic`` standing in for the
serving agents (as in tests/glue/pipelines/test_gate.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from glue.cli.main import app
from glue.cli.pipeline import OUTPUTS_ENV
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from tests.glue.cli.conftest import Apiserver, publish_digits
from tests.infra import crd_schema
from tests.support.registry import RegistryServer

runner = CliRunner()

JOB = {
    "apiVersion": "kubeflow.org/v1",
    "kind": "PyTorchJob",
    "metadata": {"name": "digits-train", "namespace": "cv"},
    "spec": {
        "pytorchReplicaSpecs": {
            "Master": {
                "replicas": 1,
                "template": {"spec": {"containers": [{"name": "t", "image": "i.invalid/t:1"}]}},
            }
        }
    },
}


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(JOB))
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    token = tmp_path / "token"
    token.write_text("sekrit-token\n")
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "cv",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"tokenFile": "token"}}],
                "contexts": [
                    {"name": "cv", "context": {"cluster": "c", "user": "u", "namespace": "cv"}}
                ],
            }
        )
    )
    return path


def test_dry_run_prints_a_workflow_the_crd_admits(job_file: Path) -> None:
    r = runner.invoke(
        app,
        [
            "pipeline", "submit", "--model", "digits", "--service", "digits",
            "--job", str(job_file), "--dataset", "mnist", "--param", "canary-share=0.5",
            "--namespace", "cv", "--dry-run",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    workflow = yaml.safe_load(r.output)
    assert crd_schema.errors(workflow) == []
    assert workflow["metadata"]["generateName"] == "model-iteration-"
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "model-iteration"}
    values = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert values["canary-share"] == "0.5" and values["dataset"] == "mnist"
    assert yaml.safe_load(values["training-job"]) == JOB


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"kind": "Deployment"}, "apiVersion/kind"),
        ({"metadata": {"name": "x", "namespace": "other"}}, "metadata.namespace 'other'"),
    ],
)
def test_a_job_that_cannot_run_is_refused_before_anything(
    tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({**JOB, **change}))
    r = runner.invoke(
        app,
        ["pipeline", "submit", "--model", "digits", "--service", "s", "--job", str(path),
         "-n", "cv", "--dry-run"],
    )  # fmt: skip
    assert r.exit_code == 2 and words in r.output


def test_unknown_parameter_is_refused(job_file: Path) -> None:
    r = runner.invoke(
        app,
        ["pipeline", "submit", "--model", "d", "--service", "s", "--job", str(job_file),
         "--param", "share=1", "-n", "cv", "--dry-run"],
    )  # fmt: skip
    assert r.exit_code == 2 and "NAME one of model" in r.output


def test_submit_creates_the_workflow_through_the_kubeconfig(
    job_file: Path, kubeconfig: Path, apiserver: Apiserver
) -> None:
    def created(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(201, json={**body, "metadata": {"name": "model-iteration-x7k2q"}})

    apiserver.handler = created
    r = runner.invoke(
        app,
        ["pipeline", "submit", "--model", "digits", "--service", "digits", "--job",
         str(job_file), "--kubeconfig", str(kubeconfig)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "workflow cv/model-iteration-x7k2q submitted" in r.output
    [request] = apiserver.requests
    assert request.method == "POST"
    assert request.url.path == "/apis/argoproj.io/v1alpha1/namespaces/cv/workflows"
    assert request.headers["Authorization"] == "Bearer sekrit-token"
    assert crd_schema.errors(json.loads(request.content)) == []


def test_submit_says_what_the_apiserver_refused(
    job_file: Path, kubeconfig: Path, apiserver: Apiserver
) -> None:
    apiserver.handler = lambda request: httpx.Response(
        403, json={"message": 'workflows.argoproj.io is forbidden: User "bob" cannot create'}
    )
    r = runner.invoke(
        app,
        ["pipeline", "submit", "--model", "digits", "--service", "digits", "--job",
         str(job_file), "--kubeconfig", str(kubeconfig)],
    )  # fmt: skip
    assert r.exit_code == 1 and "403" in r.output and "forbidden" in r.output


def test_status_prints_each_node(kubeconfig: Path, apiserver: Apiserver) -> None:
    workflow = {
        "metadata": {"name": "model-iteration-x7k2q"},
        "status": {
            "phase": "Running",
            "nodes": {
                "a": {"displayName": "train", "type": "Pod", "phase": "Running",
                      "startedAt": "2026-11-30T10:01:00Z"},
                "b": {"displayName": "prepare", "type": "Pod", "phase": "Succeeded",
                      "startedAt": "2026-11-30T10:00:00Z", "finishedAt": "2026-11-30T10:00:09Z"},
                "c": {"displayName": "rollback", "type": "Skipped", "phase": "Skipped",
                      "message": "when 'false == true' evaluated false"},
            },
        },
    }  # fmt: skip
    apiserver.handler = lambda request: httpx.Response(200, json=workflow)
    args = ["pipeline", "status", "model-iteration-x7k2q", "--kubeconfig", str(kubeconfig)]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["phase"] == "Running"
    assert [n["displayName"] for n in shown["nodes"]] == ["prepare", "train", "rollback"]
    r = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert "workflow cv/model-iteration-x7k2q: Running" in r.output
    assert "Succeeded" in r.output and "Skipped" in r.output
    assert apiserver.requests[-1].url.path.endswith(
        "/namespaces/cv/workflows/model-iteration-x7k2q"
    )


def test_status_of_a_missing_workflow(kubeconfig: Path, apiserver: Apiserver) -> None:
    apiserver.handler = lambda request: httpx.Response(404, json={"message": "not found"})
    r = runner.invoke(app, ["pipeline", "status", "nope", "--kubeconfig", str(kubeconfig)])
    assert r.exit_code == 1 and "no workflow 'nope' in namespace 'cv'" in r.output


def test_an_unreachable_apiserver_is_exit_3(tmp_path: Path, kubeconfig: Path) -> None:
    text = kubeconfig.read_text().replace("https://127.0.0.1:6443", "http://127.0.0.1:9")
    kubeconfig.write_text(text)
    r = runner.invoke(app, ["pipeline", "status", "x", "--kubeconfig", str(kubeconfig)])
    assert r.exit_code == 3 and "cannot reach the apiserver" in r.output


# ---------------------------------------------------------------------------------------------
# step commands


def test_prepare_job_step_writes_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    r = runner.invoke(
        app,
        ["pipeline", "step", "prepare-job", "--model", "digits", "--job", json.dumps(JOB),
         "--namespace", "cv"],
        env={"KUBEAI_PIPELINE_OUTPUTS": str(out)},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest").read_text())
    assert manifest["metadata"] == {
        "generateName": "digits-train-",
        "labels": {"kubeai.dev/model": "digits"},
    }


def test_wait_version_finds_the_jobs_version(registry: RegistryServer, tmp_path: Path) -> None:
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    out = tmp_path / "outputs"
    base = ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version"]
    env = {"KUBEAI_PIPELINE_OUTPUTS": str(out)}
    r = runner.invoke(app, [*base, "--model", "digits", "--job-uid", "u2"], env=env)
    assert r.exit_code == 0, r.output
    assert (out / "version").read_text() == "2"
    r = runner.invoke(
        app,
        [*base, "--model", "digits", "--job-uid", "nope", "--timeout", "0.3", "--interval", "0.1"],
    )
    assert r.exit_code == 1 and "no version of 'digits' from job uid nope" in r.output


@pytest.fixture
def scene(registry: RegistryServer, tmp_path: Path) -> Iterator[RegistryClient]:
    """The registry with digits v1 and v2, ``production`` -> 1 and service ``digits`` following
    ``production``; yields a client of team ``cv``."""
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
        client.set_alias("digits", "production", 1)
        client.create_service(
            schemas.ServiceCreate(
                name="digits", assignments=[schemas.Assignment(model="digits", alias="production")]
            )
        )
        yield client


def _serve(
    client: RegistryClient, pod: str, version: int, samples: list[tuple[int, int, float]]
) -> None:
    """Report ``pod`` of service ``digits`` serving ``version`` with cumulative (success,
    failure, p99 ms) samples, as its serving agent does."""
    for success, failure, p99_ms in samples:
        client.report_pod_status(
            "digits",
            pod,
            schemas.PodStatusReport(
                models=[schemas.ObservedModel(model="digits", version=version, state="READY")],
                traffic=[
                    schemas.TrafficCounters(
                        model="digits",
                        version=version,
                        success=success,
                        failure=failure,
                        duration_us=(success + failure) * 1000,
                        p99_us=p99_ms * 1000,
                    )
                ],
            ),
        )


def _step(registry: RegistryServer, *args: str, out: Path | None = None) -> Result:
    """Run ``kubeai pipeline step ARGS`` on the registry (team ``cv``); exit 0 asserted."""
    env = {OUTPUTS_ENV: str(out)} if out else {}
    r = runner.invoke(
        app, ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", *args], env=env
    )
    assert r.exit_code == 0, r.output
    return r


TARGET = ["--service", "digits", "--model", "digits", "--version", "2"]
LIMITS = ["--window", "60", "--max-error-ratio", "0.01", "--min-requests", "20"]


def test_canary_step_starts_the_canary(registry: RegistryServer, scene: RegistryClient) -> None:
    r = _step(registry, "canary", *TARGET, "--share", "0.25")
    assert "digits v2 is canary (0.25 of the replicas)" in r.output
    (assignment,) = scene.get_service("digits").assignments
    assert (assignment.canary_version, assignment.canary_share) == (2, 0.25)
    assert assignment.canary_status == "active" and assignment.resolved_version == 1


@pytest.fixture
def canary(registry: RegistryServer, scene: RegistryClient) -> RegistryClient:
    """``scene`` with v2 started as canary on half the pods by the ``canary`` step."""
    _step(registry, "canary", *TARGET, "--share", "0.5")
    return scene


def test_canary_step_refuses_a_version_not_newer_than_production(
    registry: RegistryServer, scene: RegistryClient
) -> None:
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "canary",
         "--service", "digits", "--model", "digits", "--version", "1", "--share", "0.5"],
    )  # fmt: skip
    assert r.exit_code == 2 and "422" in r.output


@pytest.mark.parametrize(
    ("samples", "bound", "passed", "reason"),
    [
        ([(0, 0, 2.5), (50, 0, 2.5)], ["--max-p99-ms", "5"], "true", "+0.500 ms vs stable"),
        ([(0, 0, 2.5), (50, 0, 2.5)], ["--max-p99-ratio", "1.5"], "true", "1.25x stable"),
        ([(0, 0, 2.0), (60, 40, 2.0)], ["--max-p99-ms", "5"], "false", "error ratio 0.4000"),
        ([(0, 0, 9.0), (50, 0, 9.0)], ["--max-p99-ms", "5"], "false", "by 7.000 ms > 5 ms"),
        ([(0, 0, 2.0), (10, 0, 2.0)], [], "false", "10 requests in 60s, fewer than 20"),
    ],
)
def test_verify_writes_the_gates_verdict(
    registry: RegistryServer,
    canary: RegistryClient,
    tmp_path: Path,
    samples: list[tuple[int, int, float]],
    bound: list[str],
    passed: str,
    reason: str,
) -> None:
    """A good canary passes; an erroring one, one whose p99 exceeds the stable version's by
    more than ``--max-p99-ms`` and one with too few requests fail, with the reason."""
    _serve(canary, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(canary, "canary-0", 2, samples)
    out = tmp_path / "outputs"
    _step(registry, "verify", *TARGET, *LIMITS, *bound, out=out)
    assert (out / "passed").read_text() == passed
    assert reason in (out / "reason").read_text()
    figures = json.loads((out / "figures").read_text())
    assert (figures["canary_version"], figures["stable_version"]) == (2, 1)
    assert figures["canary"]["requests"] == sum(samples[-1][:2])


def test_release_moves_production_and_clears_the_canary(
    registry: RegistryServer, canary: RegistryClient
) -> None:
    r = _step(registry, "release", *TARGET, "--reason", "within thresholds")
    assert "digits v2 released to production" in r.output
    assert canary.get_model("digits").aliases["production"] == 2
    (assignment,) = canary.get_service("digits").assignments
    assert assignment.resolved_version == 2 and assignment.canary_version is None
    assert canary.alias_history("digits").items[0].reason == "within thresholds"


def test_rollback_clears_the_canary_and_records_why(
    registry: RegistryServer, canary: RegistryClient
) -> None:
    r = _step(registry, "rollback", *TARGET, "--reason", "p99 too high")
    assert "digits v2 rolled back: p99 too high" in r.output
    (assignment,) = canary.get_service("digits").assignments
    assert assignment.canary_version is None and assignment.canary_status == "cleared"
    assert assignment.canary_cleared is not None
    assert (assignment.canary_cleared.version, assignment.canary_cleared.reason) == (
        2,
        "p99 too high",
    )
    assert canary.audit(action="canary.clear").items[0].detail["reason"] == "p99 too high"
    assert canary.get_model("digits").aliases["production"] == 1


@pytest.mark.parametrize("ratio", ["", "1.5"])
def test_every_command_the_template_runs_parses(ratio: str) -> None:
    """Each container step's arguments, placeholders filled with the parameters' defaults (an
    empty ``max-p99-ratio``: not judged, or a ratio), are accepted by the CLI."""
    import typer.main

    from glue.pipelines.templates import PARAMETERS, PipelineSettings, build_workflow_template

    template = build_workflow_template(
        PipelineSettings(namespace="cv", team="cv", image="i.invalid/glue:1", registry_url="x")
    )
    root: Any = typer.main.get_command(app)
    step_group = root.commands["pipeline"].commands["step"]
    values = {name: default for name, (default, _) in PARAMETERS.items() if default is not None}
    values |= {"model": "digits", "service": "digits", "training-job": json.dumps(JOB)}
    values |= {"max-p99-ratio": ratio, "version": "3", "job-uid": "u1", "reason": "why"}
    values["namespace"] = "cv"
    for spec in template["spec"]["templates"]:
        if "container" not in spec:
            continue
        container = spec["container"]
        assert container["command"][-2:] == ["pipeline", "step"]
        name, *args = container["args"]
        filled = [
            values[a.strip("{}").rsplit(".", 1)[-1]] if a.startswith("{{") else a for a in args
        ]
        command = step_group.commands[name]
        context = command.make_context(name, filled)  # raises on an unknown option or a bad value
        if name == "verify":
            assert context.params["max_p99_ratio"] == (float(ratio) if ratio else None)
            assert context.params["max_p99_ms"] == 50.0
            assert context.params["min_requests"] == 20
