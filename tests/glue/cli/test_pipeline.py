"""``kubeai pipeline``: submit (dry run, and to an apiserver stand-in that records requests),
status, and the step commands the template's containers run.

The canary gate (``glue.pipelines.gate``) is written in parallel; these tests drive the step
commands with a small fake gate module of the agreed contract (``start_canary``, ``verify`` ->
``GateResult(passed, reason, figures)``, ``release``, ``rollback``), installed as
``glue.pipelines.gate`` for the test. ``wait-version`` runs against a real registry.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from glue.cli.kubeconfig import KubeConnection
from glue.cli.main import app
from tests.glue.cli.conftest import publish_digits
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


@dataclass
class Apiserver:
    """Stands in for the apiserver: records requests, answers with ``handler``."""

    handler: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.MockTransport(handle)


@pytest.fixture
def apiserver(monkeypatch: pytest.MonkeyPatch) -> Apiserver:
    """``KubeConnection.client`` answers through an ``Apiserver`` (its auth kept)."""
    server = Apiserver(lambda request: httpx.Response(500))
    original = KubeConnection.client

    def client(self: KubeConnection, *, timeout: float = 30.0) -> httpx.Client:
        real = original(self, timeout=timeout)
        return httpx.Client(
            base_url=real.base_url, auth=real.auth, headers=real.headers,
            transport=server.transport(),
        )  # fmt: skip

    monkeypatch.setattr(KubeConnection, "client", client)
    return server


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


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str
    figures: dict[str, Any]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """A fake ``glue.pipelines.gate`` recording its calls; ``verify`` fails a p99 over 10 ms."""
    calls: list[tuple[str, dict[str, Any]]] = []
    module = types.ModuleType("glue.pipelines.gate")

    def start_canary(client: Any, **kwargs: Any) -> None:
        calls.append(("start_canary", kwargs))

    def verify(
        client: Any,
        *,
        service: str,
        model: str,
        canary: int,
        window_s: float,
        max_error_ratio: float,
        max_p99_ms: float,
        **_: Any,
    ) -> GateResult:
        calls.append(("verify", {"canary": canary, "window_s": window_s, "max_p99_ms": max_p99_ms}))
        passed = max_p99_ms >= 10
        reason = "within thresholds" if passed else "p99 +12 ms over stable (limit 5 ms)"
        return GateResult(passed, reason, {"p99_delta_ms": 12, "error_ratio": 0.0})

    def release(client: Any, **kwargs: Any) -> None:
        calls.append(("release", kwargs))

    def rollback(client: Any, **kwargs: Any) -> None:
        calls.append(("rollback", kwargs))

    for function in (start_canary, verify, release, rollback):
        setattr(module, function.__name__, function)
    monkeypatch.setitem(sys.modules, "glue.pipelines.gate", module)
    return calls


STEP = ["pipeline", "step", "--registry-url", "http://127.0.0.1:9", "--team", "cv"]
TARGET = ["--service", "digits", "--model", "digits", "--version", "3"]


def test_canary_release_and_rollback_call_the_gate(gate: list[Any]) -> None:
    for args in (
        ["canary", *TARGET, "--share", "0.25"],
        ["release", *TARGET, "--reason", "within thresholds"],
        ["rollback", *TARGET, "--reason", "p99 too high"],
    ):
        r = runner.invoke(app, [*STEP, *args])
        assert r.exit_code == 0, r.output
    assert gate == [
        ("start_canary", {"service": "digits", "model": "digits", "version": 3, "share": 0.25}),
        ("release", {"service": "digits", "model": "digits", "version": 3,
                     "reason": "within thresholds"}),
        ("rollback", {"service": "digits", "model": "digits", "version": 3,
                      "reason": "p99 too high"}),
    ]  # fmt: skip


@pytest.mark.parametrize(("p99", "passed"), [("20", "true"), ("5", "false")])
def test_verify_writes_its_verdict(gate: list[Any], tmp_path: Path, p99: str, passed: str) -> None:
    out = tmp_path / "outputs"
    r = runner.invoke(
        app,
        [*STEP, "verify", *TARGET, "--window", "60", "--max-error-ratio", "0.01",
         "--max-p99-ms", p99],
        env={"KUBEAI_PIPELINE_OUTPUTS": str(out)},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (out / "passed").read_text() == passed
    assert json.loads((out / "figures").read_text())["p99_delta_ms"] == 12
    assert gate == [("verify", {"canary": 3, "window_s": 60.0, "max_p99_ms": float(p99)})]


def test_every_command_the_template_runs_parses() -> None:
    """Each container step's arguments (placeholders filled) are accepted by the CLI."""
    import typer.main

    from glue.pipelines.templates import PipelineSettings, build_workflow_template

    template = build_workflow_template(
        PipelineSettings(namespace="cv", team="cv", image="i.invalid/glue:1", registry_url="x")
    )
    root: Any = typer.main.get_command(app)
    step_group = root.commands["pipeline"].commands["step"]
    numbers = {"version": "3", "canary-share": "0.2", "version-timeout": "60"}
    for spec in template["spec"]["templates"]:
        if "container" not in spec:
            continue
        container = spec["container"]
        assert container["command"][-2:] == ["pipeline", "step"]
        name, *args = container["args"]
        filled = []
        for arg in args:
            if arg.startswith("{{"):
                key = arg.strip("{}").rsplit(".", 1)[-1]
                arg = numbers.get(key, "1" if "max" in key or "window" in key else "text")
            filled.append(arg)
        command = step_group.commands[name]
        command.make_context(name, filled)  # raises on an unknown option or a bad value
