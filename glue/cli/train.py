"""``kubeai train submit SPEC``: a PyTorchJob for the team's queue from a short YAML spec.

The spec's keys are ``glue.training.jobspec``'s. The team's limits (queue, GPUs per node, the GPU
nodes' taint) are read from the ConfigMap ``kubeai-training-limits`` of the namespace, the very
limits the admission policy carries (``infra.policies.training``), so a rendered job
passes admission. The cluster is the kubeconfig context's (``--kubeconfig``/``--context``,
``glue.kubeconfig``); the namespace is ``--namespace``, else the context's.

``--dry-run`` prints the job as YAML and creates nothing; otherwise the job is created and its
name printed. Exit status (``glue.cli.exit_codes``): 0 done; 1 refused by the apiserver
(admission's message printed as is: it names the field and the limit) or no params ConfigMap;
2 a bad spec (the key path named), kubeconfig or option; 3 the apiserver unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import yaml
from rich.console import Console
from rich.text import Text

from glue import kubeconfig
from glue.cli.exit_codes import ExitCode
from glue.cli.terminal import shown
from glue.training.jobspec import (
    LIMITS_CONFIGMAP,
    JobSpecError,
    TeamLimits,
    parse_spec,
    render_pytorchjob,
)

app = typer.Typer(help="Training jobs for the team's queue.", no_args_is_help=True)
out = Console(markup=False)
err = Console(stderr=True, markup=False)


def _fail(message: str, code: ExitCode) -> NoReturn:
    err.print(Text.assemble(("error:", "red"), " ", shown(message)), soft_wrap=True)
    raise typer.Exit(code)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text


def _read_spec(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}", ExitCode.BAD_INPUT)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        _fail(f"{path}: not a YAML spec ({exc})", ExitCode.BAD_INPUT)


def _limits(client: httpx.Client, namespace: str) -> TeamLimits:
    path = f"/api/v1/namespaces/{namespace}/configmaps/{LIMITS_CONFIGMAP}"
    response = client.get(path)
    if response.status_code == 404:
        _fail(
            f"namespace {namespace!r} has no ConfigMap {LIMITS_CONFIGMAP}: it is no team "
            "namespace of a team stack (pass --namespace <team>)",
            ExitCode.FAILED,
        )
    if not response.is_success:
        _fail(
            f"reading ConfigMap {namespace}/{LIMITS_CONFIGMAP}: {_message(response)}",
            ExitCode.FAILED,
        )
    try:
        return TeamLimits.from_configmap(response.json())
    except JobSpecError as exc:
        _fail(str(exc), ExitCode.FAILED)


@app.command("submit")
def submit(
    spec_file: Annotated[Path, typer.Argument(help="The job's short YAML spec.", metavar="SPEC")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the job as YAML; create nothing.")
    ] = False,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="The team's namespace (default: the context's)."),
    ] = None,
    kubeconfig_file: Annotated[
        Path | None,
        typer.Option("--kubeconfig", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--kube-context", help="Kubeconfig context (default: its current-context)."),
    ] = None,
) -> None:
    """Render a PyTorchJob for the team's queue from SPEC and create it (or print it)."""
    try:
        spec = parse_spec(_read_spec(spec_file))
    except JobSpecError as exc:
        _fail(f"{spec_file}: {exc}", ExitCode.BAD_INPUT)
    try:
        cluster = kubeconfig.connect(kubeconfig_file, context)
    except kubeconfig.KubeconfigError as exc:
        _fail(str(exc), ExitCode.BAD_INPUT)
    team = namespace or cluster.namespace
    if not team:
        _fail("no namespace: pass --namespace <team> (the context sets none)", ExitCode.BAD_INPUT)
    try:
        with cluster.client() as client:
            limits = _limits(client, team)
            try:
                job = render_pytorchjob(spec, limits, namespace=team)
            except JobSpecError as exc:
                _fail(f"{spec_file}: {exc}", ExitCode.BAD_INPUT)
            if dry_run:
                out.print(yaml.safe_dump(job, sort_keys=False), end="")
                return
            response = client.post(f"/apis/kubeflow.org/v1/namespaces/{team}/pytorchjobs", json=job)
    except httpx.TransportError as exc:
        _fail(f"the apiserver {cluster.server} is unreachable: {exc}", ExitCode.UNAVAILABLE)
    if not response.is_success:
        _fail(_message(response), ExitCode.FAILED)
    name = response.json()["metadata"]["name"]
    out.print(f"pytorchjob {team}/{name} created (queue {limits.queue}, gang of {spec.replicas})")
