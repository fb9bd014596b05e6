"""``kubeai pipeline``: run the team's model-iteration pipeline (Argo Workflows) and follow it.

* ``submit``: creates a Workflow from the team's WorkflowTemplate ``model-iteration``
  (``workflowTemplateRef``) with the given parameters, through the kubeconfig's context
  (``glue.kubeconfig``); the training-job file is checked first (``prepare_job``).
  ``--dry-run`` prints the Workflow instead (YAML), without contacting the cluster.
* ``status NAME``: the workflow's phase and one line per node (step, type, phase, message).
* ``step ...`` (hidden): the commands the template's container steps run in the glue image
  (``glue.pipelines.templates``): ``prepare-job``, ``wait-version``, ``canary``, ``verify``,
  ``release``, ``rollback``. They reach the registry like every command (``--registry-url``/
  ``KUBEAI_REGISTRY_URL``, ``--team``/``KUBEAI_TEAM``, ``KUBEAI_REGISTRY_TOKEN_FILE``) and
  write their output parameters as files under ``KUBEAI_PIPELINE_OUTPUTS``. The canary, verify,
  release and rollback logic is ``glue.pipelines.gate``'s.

Exit status (``glue.cli.exit_codes``): 0 done (``verify`` also when the gate did not pass: its
``passed`` output decides); 1 refused or failed (a 403, a workflow that does not exist, no
version before the timeout); 2 bad input (a parameter, a job file, the kubeconfig); 3 the
apiserver or the registry cannot be reached.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from glue.cli.exit_codes import ExitCode
from glue.cli.options import finite
from glue.cli.terminal import shown
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable
from glue.pipelines import gate
from glue.pipelines.parameters import MAX_WINDOW_S, MIN_WINDOW_S, ParameterError

app = typer.Typer(help="Run the model-iteration pipeline and follow it.", no_args_is_help=True)
step_app = typer.Typer(
    help="Commands the pipeline's container steps run (in the glue image).",
    no_args_is_help=True,
)
app.add_typer(step_app, name="step", hidden=True)
console = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)

#: Where ``step`` commands write output parameters (one file per parameter).
OUTPUTS_ENV = "KUBEAI_PIPELINE_OUTPUTS"
WORKFLOW_API = "/apis/argoproj.io/v1alpha1"
#: Seconds between two registry polls of ``wait-version``.
POLL_SECONDS = 5.0

KubeconfigOption = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, else ~/.kube/config)."),
]
KubeContextOption = Annotated[
    str | None,
    typer.Option("--kube-context", help="Kubeconfig context (default: its current-context)."),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="The team's namespace (default: the kubeconfig context's namespace).",
        show_default=False,
    ),
]
ServiceOption = Annotated[str, typer.Option("--service", help="Inference service.")]
ModelOption = Annotated[str, typer.Option("--model", help="Registry model.")]
VersionOption = Annotated[int, typer.Option("--version", min=1, help="Model version.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded).")]


def _fail(message: str, code: ExitCode) -> NoReturn:
    err.print(Text.assemble(("error:", "red"), " ", shown(message)), soft_wrap=True)
    raise typer.Exit(int(code))


# ---------------------------------------------------------------------------------------------
# the Kubernetes side: submit, status


@contextmanager
def _kube(kubeconfig: Path | None, context: str | None) -> Iterator[tuple[httpx.Client, Any]]:
    """A client on the apiserver of the kubeconfig's context and the connection; exits 2 on a
    kubeconfig problem, 3 when the apiserver cannot be reached."""
    from glue.kubeconfig import KubeconfigError, connect

    try:
        connection = connect(kubeconfig, context)
    except KubeconfigError as exc:
        _fail(str(exc), ExitCode.BAD_INPUT)
    try:
        with connection.client() as client:
            yield client, connection
    except httpx.TransportError as exc:
        _fail(f"cannot reach the apiserver {connection.server}: {exc}", ExitCode.UNAVAILABLE)


def _api_failure(response: httpx.Response, what: str) -> NoReturn:
    """Exit with the apiserver's message for a refused request about ``what``."""
    try:
        message = response.json().get("message") or response.reason_phrase
    except ValueError:
        message = response.reason_phrase
    if response.status_code in (400, 422):
        _fail(f"{what}: the apiserver refused it: {message}", ExitCode.BAD_INPUT)
    _fail(f"{what}: {response.status_code} {message}", ExitCode.FAILED)


def _parameters(
    *,
    model: str,
    service: str,
    job: str,
    dataset: str | None,
    extra: list[str],
) -> dict[str, str]:
    """Template parameters from the options; ``--param k=v`` overrides last."""
    from glue.pipelines.templates import PARAMETERS

    values = {"model": model, "service": service, "training-job": job}
    if dataset is not None:
        values["dataset"] = dataset
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or key not in PARAMETERS:
            _fail(
                f"--param {item!r}: give NAME=VALUE with NAME one of {', '.join(PARAMETERS)}",
                ExitCode.BAD_INPUT,
            )
        values[key] = value
    from glue.pipelines.parameters import check_parameters

    try:
        check_parameters(values)
    except ParameterError as exc:
        options = {"model": "--model", "service": "--service", "dataset": "--dataset"}
        _fail(
            "; ".join(
                f"{options.get(name, f'--param {name}')}: {why}"
                for name, why in exc.problems.items()
            ),
            ExitCode.BAD_INPUT,
        )
    return values


@app.command()
def submit(
    model: ModelOption,
    service: ServiceOption,
    job: Annotated[
        Path, typer.Option("--job", help="Training job manifest (kubeflow.org/v1, YAML/JSON).")
    ],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Fluid Dataset to warm first.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Another template parameter NAME=VALUE (canary-share, verify-window, "
            "canary-ready-timeout, max-error-ratio, max-p99-latency-ms, max-p99-ratio, "
            "min-requests, version-timeout); repeatable.",
        ),
    ] = None,
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    kube_context: KubeContextOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the Workflow (YAML); create nothing.")
    ] = False,
) -> None:
    """Start the team's model-iteration pipeline: prepare the job, warm the dataset, train,
    wait for the version, canary, verify, release or roll back."""
    from glue.pipelines.templates import build_workflow
    from glue.pipelines.training_job import JobManifestError, prepare_job

    try:
        text = job.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"--job {job}: cannot read it: {exc}", ExitCode.BAD_INPUT)
    values = _parameters(model=model, service=service, job=text, dataset=dataset, extra=param or [])
    if dry_run and namespace is None:
        _fail("--dry-run needs --namespace (the kubeconfig is not read)", ExitCode.BAD_INPUT)
    if dry_run:
        chosen = str(namespace)
        _check_job(values, chosen, prepare_job, JobManifestError)
        console.print(yaml.safe_dump(build_workflow(chosen, values), sort_keys=False), end="")
        return
    with _kube(kubeconfig, kube_context) as (client, connection):
        chosen = namespace or connection.namespace
        if not chosen:
            _fail(
                f"context {connection.context!r} names no namespace: give --namespace (the "
                "team's namespace)",
                ExitCode.BAD_INPUT,
            )
        _check_job(values, chosen, prepare_job, JobManifestError)
        manifest = build_workflow(chosen, values)
        response = client.post(f"{WORKFLOW_API}/namespaces/{chosen}/workflows", json=manifest)
        if response.status_code != 201:
            _api_failure(response, f"creating the workflow in namespace {chosen!r}")
        created = response.json()["metadata"]["name"]
    console.print(f"workflow {chosen}/{created} submitted")
    console.print(f"follow it: kubeai pipeline status {created} -n {chosen}")


def _check_job(
    values: dict[str, str], namespace: str, prepare: Callable[..., Any], error: type[Exception]
) -> None:
    """Exit 2 naming the field when the training job cannot run (as ``prepare-job`` would)."""
    try:
        prepare(values["training-job"], model=values["model"], namespace=namespace)
    except error as exc:
        _fail(f"--job: {exc}", ExitCode.BAD_INPUT)


def _nodes(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """The workflow's nodes in start order (not started last)."""
    nodes = list((workflow.get("status") or {}).get("nodes", {}).values())
    return sorted(nodes, key=lambda n: (n.get("startedAt") is None, n.get("startedAt") or ""))


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="Workflow name (kubeai pipeline submit prints it).")],
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    kube_context: KubeContextOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the nodes as JSON.")] = False,
) -> None:
    """The workflow's phase and each node's phase."""
    with _kube(kubeconfig, kube_context) as (client, connection):
        chosen = namespace or connection.namespace
        if not chosen:
            _fail("give --namespace (the team's namespace)", ExitCode.BAD_INPUT)
        response = client.get(f"{WORKFLOW_API}/namespaces/{chosen}/workflows/{name}")
        if response.status_code == 404:
            _fail(f"no workflow {name!r} in namespace {chosen!r}", ExitCode.FAILED)
        if response.status_code != 200:
            _api_failure(response, f"reading workflow {chosen}/{name}")
        workflow = response.json()
    state = workflow.get("status") or {}
    nodes = _nodes(workflow)
    if as_json:
        keys = ("displayName", "type", "phase", "message", "startedAt", "finishedAt")
        rows = [{k: n.get(k) for k in keys} for n in nodes]
        console.print(json.dumps({"phase": state.get("phase"), "nodes": rows}, indent=2))
        return
    phase = state.get("phase") or "Pending"
    console.print(f"workflow {chosen}/{name}: {shown(phase)}")
    if state.get("message"):
        console.print(f"  {shown(state['message'])}")
    table = Table("step", "type", "phase", "started", "finished", "message")
    for node in nodes:
        table.add_row(
            *(
                shown(node.get(k) or "")
                for k in ("displayName", "type", "phase", "startedAt", "finishedAt", "message")
            )
        )
    console.print(table)


# ---------------------------------------------------------------------------------------------
# the step commands (run inside the workflow's pods)


@step_app.callback()
def _step_settings(
    ctx: typer.Context,
    registry_url: Annotated[
        str | None,
        typer.Option("--registry-url", envvar="KUBEAI_REGISTRY_URL", show_default=False),
    ] = None,
    team: Annotated[
        str | None, typer.Option("--team", envvar="KUBEAI_TEAM", show_default=False)
    ] = None,
) -> None:
    ctx.obj = {"url": registry_url, "team": team}


def _registry(ctx: typer.Context) -> RegistryClient:
    from glue.cli import context as contexts

    settings = ctx.obj or {}
    try:
        connection = contexts.resolve(
            url=settings.get("url"), team=settings.get("team"), context=None, need_team=True
        )
    except contexts.ContextError as exc:
        _fail(str(exc), ExitCode.BAD_INPUT)
    return connection.client()


def _output(name: str, value: str) -> None:
    """Print ``name: value`` and write ``value`` to ``$KUBEAI_PIPELINE_OUTPUTS/<name>``."""
    console.print(f"{name}: {shown(value)}")
    folder = os.environ.get(OUTPUTS_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_text(value)


@contextmanager
def _registry_errors() -> Iterator[None]:
    """Registry errors as one red line and an exit status."""
    try:
        yield
    except RegistryError as exc:
        bad = exc.status in (400, 422)
        _fail(str(exc), ExitCode.BAD_INPUT if bad else ExitCode.FAILED)
    except RegistryUnavailable as exc:
        _fail(str(exc), ExitCode.UNAVAILABLE)


@step_app.command("prepare-job")
def prepare_job_step(
    model: ModelOption,
    job: Annotated[str, typer.Option("--job", help="The training-job manifest (text).")],
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="The workflow's namespace.")
    ] = None,
) -> None:
    """Check the training job and print it ready for the train step (output ``manifest``)."""
    from glue.pipelines.training_job import JobManifestError, dumps, prepare_job

    try:
        manifest = prepare_job(job, model=model, namespace=namespace)
    except JobManifestError as exc:
        _fail(str(exc), ExitCode.BAD_INPUT)
    _output("manifest", dumps(manifest))


def _transient(exc: RegistryError) -> bool:
    """Whether waiting can cure a registry refusal: 404 (the model is not registered yet) and
    5xx; any other 4xx (401, 403, 422...) is the step's own mistake and stays."""
    return exc.status == 404 or exc.status >= 500


def _job_failure(
    kube: httpx.Client | None, namespace: str | None, kind: str | None, name: str | None
) -> str | None:
    """The controller's failed outcome on the job (``training_job.failed_outcome``), or None;
    exits 1 when the job cannot be read for good (403, 404)."""
    from glue.pipelines.training_job import JobLookupError, failed_outcome

    if kube is None or not (namespace and kind and name):
        return None
    try:
        return failed_outcome(kube, namespace=namespace, kind=kind, name=name)
    except JobLookupError as exc:
        if exc.permanent:
            _fail(str(exc), ExitCode.FAILED)
        return None


@contextmanager
def _in_cluster(needed: bool) -> Iterator[httpx.Client | None]:
    """A client on the apiserver with the pod's ServiceAccount (else ``$KUBECONFIG``), when
    ``needed``; exits 2 when there are no credentials."""
    if not needed:
        yield None
        return
    from glue.controller.kube import client, discover
    from glue.kubeconfig import KubeconfigError

    try:
        connection = discover()
    except KubeconfigError as exc:
        _fail(f"--job-name: {exc}", ExitCode.BAD_INPUT)
    with client(connection) as kube:
        yield kube


@step_app.command("wait-version")
def wait_version(
    ctx: typer.Context,
    model: ModelOption,
    job_uid: Annotated[str, typer.Option("--job-uid", help="uid of the training job.")],
    job_kind: Annotated[
        str | None, typer.Option("--job-kind", help="Kind of the training job (PyTorchJob...).")
    ] = None,
    job_name: Annotated[
        str | None, typer.Option("--job-name", help="Name of the training job.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Namespace of the training job.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", parser=finite(0), help="Seconds to wait.")
    ] = 3600,
    interval: Annotated[
        float, typer.Option("--interval", parser=finite(0.1), help="Poll seconds.")
    ] = POLL_SECONDS,
) -> None:
    """Wait until the registry holds the version whose source uid is the job's (output
    ``version``). The registry being down or not knowing the model yet (404) only delays; any
    other refusal (4xx) ends the wait at once, and so does the lifecycle controller's
    ``TrainingFailed``/``RegistrationFailed`` on the job (with ``--job-kind``/``--job-name``/
    ``--namespace``: read with the pod's ServiceAccount, else ``$KUBECONFIG``), with the
    reason from its Event."""
    from glue.pipelines.training_job import check_model

    try:
        check_model(model)
    except ValueError as exc:
        _fail(f"--model: {exc}", ExitCode.BAD_INPUT)
    deadline = time.monotonic() + timeout
    last_problem = ""
    watch_job = bool(job_kind and job_name and namespace)
    with _registry(ctx) as client, _in_cluster(watch_job) as kube:
        while True:
            try:
                found = client.find_version_by_source(model, job_uid)
            except RegistryUnavailable as exc:
                found, last_problem = None, str(exc)
            except RegistryError as exc:
                if not _transient(exc):
                    _fail(str(exc), ExitCode.BAD_INPUT if exc.status == 422 else ExitCode.FAILED)
                found, last_problem = None, str(exc)
            if found is not None:
                _output("version", str(found.version))
                return
            failure = _job_failure(kube, namespace, job_kind, job_name)
            if failure is not None:
                _fail(f"no version of {model!r} will come: {failure}", ExitCode.FAILED)
            if time.monotonic() >= deadline:
                extra = f" (last problem: {last_problem})" if last_problem else ""
                _fail(
                    f"no version of {model!r} from job uid {job_uid} after {timeout:g} s{extra}",
                    ExitCode.FAILED,
                )
            time.sleep(interval)


@step_app.command()
def canary(
    ctx: typer.Context,
    service: ServiceOption,
    model: ModelOption,
    version: VersionOption,
    share: Annotated[
        float,
        typer.Option(
            "--share",
            parser=finite(0, 1, open_low=True, open_high=True),
            help="Share of the replicas (0 < share < 1).",
        ),
    ],
) -> None:
    """Assign the version to the service as canary with ``share`` of its replicas."""
    with _registry(ctx) as client, _registry_errors():
        gate.start_canary(client, service=service, model=model, version=version, share=share)
    console.print(f"{service}: {model} v{version} is canary ({share:g} of the replicas)")


def _latency_bound(value: str) -> float | None:
    """A latency bound of ``verify``: a number >= 0, or None for an empty value (the template
    passes its parameter as is, and an empty parameter means: not judged)."""
    if not value.strip():
        return None
    return _NON_NEGATIVE(value)


_NON_NEGATIVE = finite(0)


@step_app.command()
def verify(
    ctx: typer.Context,
    service: ServiceOption,
    model: ModelOption,
    version: VersionOption,
    window: Annotated[
        float,
        typer.Option(
            "--window",
            parser=finite(MIN_WINDOW_S, MAX_WINDOW_S),
            help="Seconds of canary traffic to wait for and judge (the registry's traffic "
            f"window: {MIN_WINDOW_S}..{MAX_WINDOW_S}).",
        ),
    ],
    max_error_ratio: Annotated[
        float,
        typer.Option("--max-error-ratio", parser=finite(0, 1), help="Highest error ratio."),
    ],
    max_p99_ms: Annotated[
        float | None,
        typer.Option(
            "--max-p99-ms",
            parser=_latency_bound,
            metavar="MS",
            help="ms the canary's p99 may exceed the stable's (empty: not judged).",
        ),
    ] = None,
    max_p99_ratio: Annotated[
        float | None,
        typer.Option(
            "--max-p99-ratio",
            parser=_latency_bound,
            metavar="RATIO",
            help="Highest canary/stable p99 ratio (empty: not judged).",
        ),
    ] = None,
    min_requests: Annotated[
        int,
        typer.Option("--min-requests", min=1, help="Canary requests needed to judge."),
    ] = gate.MIN_REQUESTS,
    ready_timeout: Annotated[
        float,
        typer.Option(
            "--ready-timeout",
            parser=finite(0),
            help="Seconds to wait for every canary pod to report the version READY.",
        ),
    ] = 600,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait for the canary to be READY and to serve --window seconds before judging "
            "(--no-wait: judge the last --window seconds now).",
        ),
    ] = True,
    interval: Annotated[
        float, typer.Option("--interval", parser=finite(0.1), help="Poll seconds.")
    ] = POLL_SECONDS,
) -> None:
    """Wait until every canary pod serves the version READY and for ``--window`` seconds of
    its traffic, then run the metric gate; outputs ``passed`` (true/false), ``reason`` and
    ``figures``. A canary that does not become READY within ``--ready-timeout`` does not pass."""
    judge: Callable[..., gate.GateResult] = (
        functools.partial(gate.wait_and_verify, ready_timeout_s=ready_timeout, interval_s=interval)
        if wait
        else gate.verify
    )
    with _registry(ctx) as client, _registry_errors():
        result = judge(
            client,
            service=service,
            model=model,
            canary=version,
            window_s=window,
            max_error_ratio=max_error_ratio,
            max_p99_ratio=max_p99_ratio,
            max_p99_ms=max_p99_ms,
            min_requests=min_requests,
        )
    _output("figures", json.dumps(result.figures, sort_keys=True, default=str))
    _output("reason", result.reason)
    _output("passed", "true" if result.passed else "false")


@step_app.command()
def release(
    ctx: typer.Context,
    service: ServiceOption,
    model: ModelOption,
    version: VersionOption,
    reason: ReasonOption = "",
) -> None:
    """Move ``production`` to the version (the canary passed)."""
    with _registry(ctx) as client, _registry_errors():
        gate.release(client, service=service, model=model, version=version, reason=reason)
    console.print(f"{model} v{version} released to production")


@step_app.command()
def rollback(
    ctx: typer.Context,
    service: ServiceOption,
    model: ModelOption,
    version: VersionOption,
    reason: ReasonOption = "",
) -> None:
    """Clear the canary of ``service`` and record why."""
    with _registry(ctx) as client, _registry_errors():
        gate.rollback(client, service=service, model=model, version=version, reason=reason)
    console.print(f"{model} v{version} rolled back: {shown(reason)}")
