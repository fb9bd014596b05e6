"""``kubeai pipeline``: submit (dry run, and to an apiserver stand-in that records requests),
status, and the step commands the template's containers run.

The step commands run against a real registry on loopback: ``wait-version`` finds a version by
its job's uid; ``canary``, ``verify``, ``release`` and ``rollback`` run the real canary gate
(``glue.pipelines.gate``), with pod status reports carrying ``traffic`` standing in for the
serving agents (as in tests/glue/pipelines/test_gate.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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
LIMITS = ["--window", "60", "--max-error-ratio", "0.01", "--min-requests", "20", "--no-wait"]


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
    values |= {"job-kind": "PyTorchJob", "job-name": "digits-train-x7k2q"}
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


# ---------------------------------------------------------------------------------------------
# bad input refused before anything is submitted (also with --dry-run)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "Digits_V2"], "--model: 'Digits_V2'"),
        (["--model", "a.b"], "--model: 'a.b'"),
        (["--model", ""], "--model: ''"),
        (["--service", ""], "--service: ''"),
        (["--param", "canary-share=7"], "--param canary-share: '7'"),
        (["--param", "canary-share=1"], "--param canary-share: '1'"),
        (["--param", "version-timeout=-5"], "--param version-timeout: '-5'"),
        (["--param", "max-error-ratio=NaN"], "--param max-error-ratio: 'NaN': must be a finite"),
        (["--param", "max-p99-latency-ms=nan"], "--param max-p99-latency-ms: 'nan'"),
        (["--param", "max-p99-ratio=inf"], "--param max-p99-ratio: 'inf'"),
        (["--param", "canary-share=NaN"], "--param canary-share: 'NaN'"),
        (["--param", "verify-window=3601"], "--param verify-window: '3601'"),
        (["--param", "min-requests=0"], "--param min-requests: '0'"),
        (["--param", "canary-ready-timeout=x"], "--param canary-ready-timeout: 'x'"),
        (["--dataset", "Mnist"], "--dataset: 'Mnist'"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_bad_parameters_are_refused_before_anything_is_submitted(
    job_file: Path,
    kubeconfig: Path,
    apiserver: Apiserver,
    args: list[str],
    words: str,
    dry_run: bool,
) -> None:
    """Each value a step or the registry would refuse hours later is refused here, exit 2,
    naming the option; nothing reaches the apiserver."""
    given = {"--model": "digits", "--service": "digits"}
    given |= dict(zip(args[::2], args[1::2], strict=True))
    base = [x for pair in given.items() for x in pair if pair[0] != "--param"]
    extra = ["--param", given["--param"]] if "--param" in given else []
    where = ["-n", "cv", "--dry-run"] if dry_run else ["--kubeconfig", str(kubeconfig)]
    r = runner.invoke(app, ["pipeline", "submit", *base, *extra, "--job", str(job_file), *where])
    assert r.exit_code == 2, r.output
    assert words in " ".join(r.output.split())
    assert apiserver.requests == []


@pytest.mark.parametrize("model", ["Digits_V2", "a.b", ""])
def test_prepare_job_step_refuses_a_model_the_registry_refuses(model: str) -> None:
    r = runner.invoke(
        app,
        ["pipeline", "step", "prepare-job", "--model", model, "--job", json.dumps(JOB),
         "--namespace", "cv"],
    )  # fmt: skip
    assert r.exit_code == 2 and "not a registry model name" in r.output


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-error-ratio", "NaN"),
        ("--max-error-ratio", "inf"),
        ("--max-p99-ms", "nan"),
        ("--max-p99-ratio", "NaN"),
        ("--window", "nan"),
        ("--window", "3601"),
        ("--window", "0.5"),
        ("--ready-timeout", "-1"),
    ],
)
def test_verify_refuses_thresholds_that_judge_nothing(
    registry: RegistryServer, canary: RegistryClient, option: str, value: str
) -> None:
    """``--max-error-ratio NaN`` got past click's ``FloatRange(0, 1)`` and a canary with 100%
    errors passed ("error ratio 1.0000 <= nan"); a window over 3600 s got a 422 from the
    registry's traffic endpoint and the run rolled back."""
    _serve(canary, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(canary, "canary-0", 2, [(0, 0, 2.0), (0, 100, 2.0)])
    limits = dict(zip(LIMITS[:-1:2], LIMITS[1:-1:2], strict=True)) | {option: value}
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "verify", *TARGET,
         *[x for pair in limits.items() for x in pair], "--no-wait"],
    )  # fmt: skip
    assert r.exit_code == 2, r.output
    assert option in r.output


@pytest.mark.parametrize(("value", "words"), [("NaN", "finite"), ("0", "range"), ("1", "range")])
def test_canary_step_refuses_a_share_the_registry_refuses(
    registry: RegistryServer, scene: RegistryClient, value: str, words: str
) -> None:
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "canary", *TARGET,
         "--share", value],
    )  # fmt: skip
    assert r.exit_code == 2 and words in r.output
    assert scene.get_service("digits").assignments[0].canary_version is None


# ---------------------------------------------------------------------------------------------
# verify waits for the canary to load and serve (the trial's pipeline always rolled back)


def _pod(*, canary: bool) -> str:
    """Of the two live pods ``digits-0``/``digits-1`` of service ``digits``, the one in (or out
    of) the canary share 0.5 (the registry's own rule, ``canary_pods``: one of two)."""
    from glue.model_registry.service.inference import canary_pods

    live = ["digits-0", "digits-1"]
    chosen = canary_pods(service="digits", live=live, serving=(), share=0.5)
    return next(p for p in live if (p in chosen) == canary)


def _loading(client: RegistryClient, pod: str, version: int, state: str) -> None:
    client.report_pod_status(
        "digits",
        pod,
        schemas.PodStatusReport(
            models=[schemas.ObservedModel(model="digits", version=version, state=state)]
        ),
    )


WAIT = ["--window", "1", "--max-error-ratio", "0.01", "--min-requests", "20", "--interval", "0.1"]


def test_verify_waits_for_a_good_canary_to_load_and_serve_then_passes(
    registry: RegistryServer, canary: RegistryClient, tmp_path: Path
) -> None:
    """The step runs right after ``canary``: the canary pod still loads v2. Its agent reports
    READY a moment later, then traffic; the step waits for both and passes."""
    import threading
    import time

    stable, pod = _pod(canary=False), _pod(canary=True)
    _loading(canary, stable, 1, "READY")
    _loading(canary, pod, 2, "LOADING")
    out = tmp_path / "outputs"
    results: list[Result] = []
    step = threading.Thread(
        target=lambda: results.append(
            _step(registry, "verify", *TARGET, *WAIT, "--ready-timeout", "20", out=out)
        )
    )
    step.start()
    time.sleep(0.5)
    _loading(canary, pod, 2, "READY")
    sent = 0
    while step.is_alive():  # the agents keep reporting growing counters
        sent += 10
        _serve(canary, stable, 1, [(sent, 0, 2.0)])
        _serve(canary, pod, 2, [(sent, 0, 2.0)])
        time.sleep(0.1)
    step.join()
    assert results, "the verify step failed"
    assert (out / "passed").read_text() == "true", (out / "reason").read_text()
    assert json.loads((out / "figures").read_text())["canary"]["requests"] >= 20


def test_verify_fails_a_canary_that_never_loads_saying_so(
    registry: RegistryServer, canary: RegistryClient, tmp_path: Path
) -> None:
    pod = _pod(canary=True)
    _loading(canary, _pod(canary=False), 1, "READY")
    _loading(canary, pod, 2, "LOADING")
    out = tmp_path / "outputs"
    _step(registry, "verify", *TARGET, *WAIT, "--ready-timeout", "0.3", out=out)
    assert (out / "passed").read_text() == "false"
    assert (out / "reason").read_text() == (
        f"canary version 2 not READY on every canary pod of 'digits' after 0.3s: {pod} LOADING"
    )


# ---------------------------------------------------------------------------------------------
# wait-version stops at once when no version can come


def test_wait_version_stops_at_once_on_a_registry_refusal(
    registry: RegistryServer, tmp_path: Path
) -> None:
    """A 422 (here: a job uid Argo left unresolved) looped for the full timeout; now every 4xx
    but 404 ends the wait at once."""
    import time

    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    started = time.monotonic()
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version",
         "--model", "digits", "--job-uid", "{{steps.train.outputs.parameters.job-uid}}",
         "--timeout", "30", "--interval", "0.1"],
    )  # fmt: skip
    assert r.exit_code == 2 and "422" in r.output, r.output
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["nan", "-5", "inf"])
def test_wait_version_refuses_a_timeout_that_is_no_duration(value: str) -> None:
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", "http://127.0.0.1:9", "--team", "cv",
         "wait-version", "--model", "digits", "--job-uid", "u1", "--timeout", value],
    )  # fmt: skip
    assert r.exit_code == 2 and "--timeout" in r.output


JOB_PATH = "/apis/kubeflow.org/v1/namespaces/cv/pytorchjobs/digits-train-x7k2q"


@pytest.fixture
def cluster(tmp_path: Path, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Apiserver:
    """The step's apiserver (``$KUBECONFIG``, as outside a pod), answered by an ``Apiserver``."""
    from glue.controller import kube

    server = Apiserver(lambda request: httpx.Response(404, json={"message": "not found"}))
    monkeypatch.setattr(kube, "SERVICE_ACCOUNT_DIR", tmp_path / "no-service-account")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(
        kube,
        "client",
        lambda connection: httpx.Client(base_url=connection.server, transport=server.transport()),
    )
    return server


def _job_and_events(outcome: str | None, message: str) -> Callable[[httpx.Request], httpx.Response]:
    annotations = {"kubeai.dev/registration": outcome} if outcome else {}
    job = {"metadata": {"name": "digits-train-x7k2q", "uid": "u9", "annotations": annotations}}
    event = {"reason": outcome, "message": message, "lastTimestamp": "2026-11-30T10:00:00Z"}
    older = {**event, "message": "old", "lastTimestamp": "2026-11-29T10:00:00Z"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == JOB_PATH:
            return httpx.Response(200, json=job)
        if request.url.path == "/api/v1/namespaces/cv/events":
            assert request.url.params["fieldSelector"] == "involvedObject.uid=u9"
            return httpx.Response(200, json={"items": [event, older]})
        return httpx.Response(404, json={"message": "not found"})

    return answer


WAIT_JOB = [
    "--model", "digits", "--job-uid", "u9", "--job-kind", "PyTorchJob",
    "--job-name", "digits-train-x7k2q", "--namespace", "cv", "--interval", "0.1",
]  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("RegistrationFailed", "artifact s3://models/cv/digits/u9: no files at .../model"),
        ("TrainingFailed", "no version: Master replica failed: OOMKilled"),
    ],
)
def test_wait_version_stops_at_the_controllers_failed_outcome(
    registry: RegistryServer, cluster: Apiserver, tmp_path: Path, outcome: str, message: str
) -> None:
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    cluster.handler = _job_and_events(outcome, message)
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version",
         *WAIT_JOB, "--timeout", "30"],
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert f"the lifecycle controller recorded {outcome}: {message}" in text
    assert [q.url.path for q in cluster.requests] == [JOB_PATH, "/api/v1/namespaces/cv/events"]


def test_wait_version_keeps_waiting_while_the_job_may_still_register(
    registry: RegistryServer, cluster: Apiserver, tmp_path: Path
) -> None:
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    cluster.handler = _job_and_events(None, "")
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version",
         *WAIT_JOB, "--timeout", "0.3"],
    )  # fmt: skip
    assert r.exit_code == 1 and "no version of 'digits' from job uid u9 after 0.3 s" in r.output
    assert len(cluster.requests) >= 2 and {q.url.path for q in cluster.requests} == {JOB_PATH}


def test_wait_version_stops_when_the_job_cannot_be_read(
    registry: RegistryServer, cluster: Apiserver, tmp_path: Path
) -> None:
    with registry.client() as client:
        publish_digits(registry, client, tmp_path)
    cluster.handler = lambda request: httpx.Response(
        403, json={"message": 'pytorchjobs.kubeflow.org "digits-train-x7k2q" is forbidden'}
    )
    r = runner.invoke(
        app,
        ["pipeline", "step", "--registry-url", registry.url, "--team", "cv", "wait-version",
         *WAIT_JOB, "--timeout", "30"],
    )  # fmt: skip
    assert r.exit_code == 1 and "403" in r.output and "forbidden" in r.output
