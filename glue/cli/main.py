"""``kubeai``: the platform's command line for people.

Commands: ``kubeai demo``; ``kubeai models list|show|versions|alias|rollback|history``;
``kubeai services status``; ``kubeai datasets list|add``; ``kubeai lineage``;
``kubeai auth whoami``; ``kubeai audit``; ``kubeai config contexts|use-context``;
``kubeai render``; ``kubeai validate``;
``kubeai stack up|preview|destroy|outputs`` (``glue.cli.stack``); ``kubeai dev cluster up``;
``kubeai train submit`` (``glue.cli.train``).

Registry commands act in a team (``--team``/``KUBEAI_TEAM``, else the context's team). The
registry URL, team and credentials are resolved by ``glue.cli.context`` (option > environment >
context of the config file > defaults). Errors print one readable line and exit with a status of
the one table in ``glue.cli.exit_codes`` (1 refused or failed, also 401/403; 2 bad input; 3
registry or storage unreachable), never a traceback. Tokens are never printed.

Both consoles print text literally (``markup=False``): names, URIs and server messages such as
the pattern ``^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`` are never read as rich markup; styles are
applied with ``rich.text.Text`` instead. Text from the registry (names, descriptions, error
messages) goes through ``glue.cli.terminal.shown`` first, so its control characters are printed
as ``\x1b``-style escapes and never reach the terminal.

Names given as arguments (models, aliases, services) are checked against the registry's name
patterns before any request (exit 2 naming the argument); the registry URL must be an http(s)
URL with a host (exit 2 naming ``--registry-url``/``KUBEAI_REGISTRY_URL``).
The registry records who moved an alias or registered a version from the credentials it
authenticated; the CLI sends no actor text.

The process sets ``AWS_EC2_METADATA_DISABLED=true`` unless it is set already, so no command
probes the EC2 instance-metadata address (169.254.169.254) when no AWS credentials are set.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from glue.cli import context as contexts
from glue.cli.dev import app as dev_app
from glue.cli.exit_codes import ExitCode
from glue.cli.images import app as images_app
from glue.cli.options import finite
from glue.cli.pipeline import app as pipeline_app
from glue.cli.stack import app as stack_app
from glue.cli.terminal import shown
from glue.cli.train import app as train_app
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient, RegistryError, RegistryUnavailable

#: Set for the CLI process unless the user set it: without credentials, the AWS SDK would probe
#: the EC2 instance-metadata address. On an EC2 instance whose role grants access, set it to false.
METADATA_ENV = "AWS_EC2_METADATA_DISABLED"

app = typer.Typer(
    help="KubeAI platform command line.",
    no_args_is_help=True,
    epilog=f"{METADATA_ENV} is set to true unless already set (no EC2 instance-metadata "
    "probes); on an EC2 instance that gets its AWS credentials from its role, set it to false.",
)
models_app = typer.Typer(help="Models, versions and aliases in the registry.", no_args_is_help=True)
services_app = typer.Typer(
    help="Inference services and what their pods serve.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(services_app, name="services")
datasets_app = typer.Typer(help="Datasets recorded for lineage.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(dev_app, name="dev")
app.add_typer(stack_app, name="stack")
app.add_typer(images_app, name="images")
app.add_typer(train_app, name="train")
app.add_typer(pipeline_app, name="pipeline")
auth_app = typer.Typer(help="Who the registry says you are.", no_args_is_help=True)
app.add_typer(auth_app, name="auth")
config_app = typer.Typer(
    help="Contexts of the config file (KUBEAI_CONFIG, default ~/.config/kubeai/config.yaml).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

console = Console(markup=False)
err = Console(stderr=True, markup=False)

RegistryURL = Annotated[
    str | None,
    typer.Option(
        "--registry-url",
        envvar="KUBEAI_REGISTRY_URL",
        help=f"Registry base URL (default: the context's, else {contexts.DEFAULT_URL}).",
        show_default=False,
    ),
]
TeamOption = Annotated[
    str | None,
    typer.Option(
        "--team",
        envvar="KUBEAI_TEAM",
        help="The team whose objects are meant (default: the context's team).",
        show_default=False,
    ),
]
ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        envvar="KUBEAI_CONTEXT",
        help="Context of the config file to use (default: its current-context).",
        show_default=False,
    ),
]
F = TypeVar("F", bound=Callable[..., Any])
#: Aliases with a meaning by convention (the registry accepts any DNS-style name).
CONVENTIONAL_ALIASES = ("production", "staging", "canary")


@app.callback()
def _process_settings() -> None:
    os.environ.setdefault(METADATA_ENV, "true")


def fail(message: str, code: ExitCode, *, label: str = "error:") -> NoReturn:
    """Print ``label`` in red and ``message`` literally (control characters escaped, see
    ``shown``) on stderr as one line (the terminal wraps it, rich inserts no line breaks), then
    exit with ``code``."""
    text = shown(message)
    err.print(Text.assemble((label, "red"), " ", text) if label else Text(text), soft_wrap=True)
    raise typer.Exit(code)


def checked_name(argument: str, value: str, kind: Any = schemas.Name) -> str:
    """``value`` if it is a valid registry name of ``kind`` (default a DNS-1123 label, the
    pattern of models, services and datasets), else exit 2 naming ``argument`` and the rule."""
    try:
        return str(TypeAdapter(kind).validate_python(value))
    except ValidationError as exc:
        fail(f"{argument} {value!r}: {exc.errors()[0]['msg']}", ExitCode.BAD_INPUT)


def checked_model_version(model: str, version: str | None) -> None:
    """Exit 2 naming MODEL or VERSION when one is not a valid name (VERSION: a number,
    ``latest`` or an alias; None is fine)."""
    checked_name("MODEL", model)
    if version is not None and not version.isdigit():
        checked_name("VERSION (a number, latest or an alias)", version, schemas.VersionRef)


def registry(
    url: str | None, *, context: str | None = None, team: str | None = None, need_team: bool = True
) -> RegistryClient:
    """A client of the registry resolved by ``glue.cli.context.resolve`` from the options
    (``url``, ``context``, ``team``), the environment and the config file, acting in the team.

    Exits 2 naming the option, variable or config key when a setting is invalid (a URL that is
    not http(s) with a host, a bad team name, an unknown context, an unreadable token file) or
    when ``need_team`` and no team is known. Warnings (credentials left out) go to stderr.
    """
    try:
        connection = contexts.resolve(url=url, team=team, context=context, need_team=need_team)
    except contexts.ContextError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    for warning in connection.warnings:
        err.print(Text.assemble(("warning:", "yellow"), " ", shown(warning)))
    return connection.client()


def refusal(exc: RegistryError) -> str:
    """One line for a 401/403: what the registry says is missing, and for a 401 where a token
    comes from (never the token itself)."""
    problem = exc.problem
    detail = " ".join(str(problem.get("detail") or problem.get("title") or "refused").split())
    if exc.status == 401:
        return (
            f"not authenticated (401): {detail}; kubeai sends the token of "
            "KUBEAI_REGISTRY_TOKEN_FILE, KUBEAI_REGISTRY_TOKEN or the context "
            "(kubeai config contexts)"
        )
    return f"refused (403): {detail}"


def add_row(table: Table, *cells: str | Text) -> None:
    """Add a row with every plain-string cell ``shown`` (styled ``Text`` cells as given)."""
    table.add_row(*(c if isinstance(c, Text) else shown(c) for c in cells))


def plural(count: int, noun: str) -> str:
    """``1 model``, ``2 models``, ``0 models``."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def friendly(func: F) -> F:
    """Turn registry and artifact errors into one red line and an ``ExitCode``, no traceback."""
    from glue.artifacts.errors import ArtifactConflict, ArtifactError, StorageUnavailable
    from glue.model_registry.publish import DatasetConflict

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RegistryError as exc:  # 400/422: the registry refused the input itself
            if exc.status in (401, 403):
                fail(refusal(exc), ExitCode.FAILED)
            bad = exc.status in (400, 422)
            fail(str(exc), ExitCode.BAD_INPUT if bad else ExitCode.FAILED)
        except (DatasetConflict, ArtifactConflict) as exc:
            fail(str(exc), ExitCode.FAILED)
        except (RegistryUnavailable, StorageUnavailable) as exc:
            fail(str(exc), ExitCode.UNAVAILABLE)
        except ArtifactError as exc:
            fail(f"{exc.field}: {exc}", ExitCode.BAD_INPUT)
        except ValidationError as exc:  # refused before sending: say which argument and why
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "argument"
            fail(f"{where}: {first.get('msg')}", ExitCode.BAD_INPUT)

    return wrapper  # type: ignore[return-value]


def _age(when: datetime) -> str:
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@app.command()
def demo(
    workdir: Annotated[
        str, typer.Option(help="Where the demo keeps its state and report.")
    ] = ".kubeai/demo",
    swap_seconds: Annotated[
        float,
        typer.Option(
            parser=finite(20), help="How long the load generator runs across the swap (>= 20 s)."
        ),
    ] = 24.0,
    clients: Annotated[int, typer.Option(min=2, max=16, help="Load generator threads.")] = 4,
    keep_running: Annotated[
        bool,
        typer.Option(
            help="After the summary, keep the registry, tritonserver and the serving agent "
            "running until Ctrl-C, to browse what the demo produced with kubeai models ..."
        ),
    ] = False,
) -> None:
    """Run the model lifecycle end to end on real data (digits) with a real tritonserver."""
    from glue.demo.runner import DemoError, run_demo

    try:
        run_demo(
            workdir=workdir,
            swap_seconds=swap_seconds,
            clients=clients,
            console=console,
            keep_running=keep_running,
        )
    except DemoError as exc:
        fail(str(exc), ExitCode.FAILED, label="demo failed:")
    except KeyboardInterrupt as exc:
        err.print(Text("interrupted: every process the demo started was stopped", style="yellow"))
        raise typer.Exit(getattr(exc, "exit_code", ExitCode.INTERRUPTED)) from None


@models_app.command("list")
@friendly
def models_list(
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List the team's models with their latest version and aliases."""
    with registry(registry_url, context=context, team=team) as client:
        page = client.list_models(limit=limit, offset=offset)
        title = shown(f"team {client.team}: {plural(page.total, 'model')}")
    table = Table("model", "task", "latest", "aliases", title=title)
    for m in page.items:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(m.aliases.items()))
        add_row(table, m.name, m.task, str(m.latest_version), aliases)
    console.print(table)
    if page.next_offset is not None:
        console.print(f"more: --offset {page.next_offset}")


@models_app.command("show")
@friendly
def models_show(
    model: str,
    version: Annotated[
        str | None, typer.Argument(help="Version number or alias; omitted: the model itself.")
    ] = None,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
) -> None:
    """Show one of the team's models, or one version with its lineage, and where it is
    deployed."""
    checked_model_version(model, version)
    with registry(registry_url, context=context, team=team) as client:
        if version is None:
            m = client.get_model(model)
            console.print(
                Text.assemble((shown(m.name), "bold"), shown(f" (team {m.team}) {m.description}"))
            )
            console.print(
                shown(f"task: {m.task}  framework: {m.framework}  latest: v{m.latest_version}")
            )
            for alias, number in sorted(m.aliases.items()):
                console.print(shown(f"  {alias} → v{number}"))
            deployments = client.deployments(model).items
        else:
            v = client.get_version(model, version)
            console.print(
                Text.assemble(
                    (shown(f"{v.model} v{v.version}"), "bold"),
                    shown(f" aliases: {', '.join(v.aliases) or '-'}"),
                )
            )
            for line in (
                f"artifact: {v.artifact_uri} ({plural(len(v.manifest.files), 'file')}, "
                f"{plural(v.manifest.total_bytes, 'byte')})",
                f"dataset: {v.dataset or '-'}",
                f"source: {v.source.kind} {v.source.namespace}/{v.source.name} uid={v.source.uid}",
                f"created: {v.created_at:%Y-%m-%d %H:%M:%S} by {v.created_by or '-'}",
                "metrics: " + ", ".join(f"{k}={val:g}" for k, val in v.metrics.items()),
                "params: " + ", ".join(f"{k}={val}" for k, val in v.params.items()),
            ):
                console.print(shown(line))
            deployments = client.deployments(model, version=v.version).items
    if deployments:
        table = Table("service", "pod", "version", "state", "seen", title="served by")
        for d in deployments:
            add_row(table, d.service, d.pod, f"v{d.version}", d.state, _age(d.reported_at))
        console.print(table)
    else:
        console.print("not served by any pod")


@models_app.command("versions")
@friendly
def models_versions(
    model: str,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List a model's versions, newest first, with metrics and lineage."""
    checked_name("MODEL", model)
    with registry(registry_url, context=context, team=team) as client:
        page = client.list_versions(model, limit=limit, offset=offset)
    table = Table(
        "version",
        "aliases",
        "accuracy",
        "dataset",
        "source",
        "created",
        title=f"{model}: {plural(page.total, 'version')}",
    )
    for v in page.items:
        accuracy = v.metrics.get("accuracy")
        add_row(
            table,
            f"v{v.version}",
            ", ".join(v.aliases),
            "-" if accuracy is None else f"{accuracy:.4f}",
            v.dataset or "-",
            f"{v.source.kind}/{v.source.name}",
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def one_edit_apart(a: str, b: str) -> bool:
    """True if ``a`` becomes ``b`` by inserting, deleting or replacing exactly one character."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def close_alias(new: str, known: list[str]) -> str | None:
    """The first of ``known`` that a NEW alias ``new`` looks like a slip for, or None.

    Close means one edit apart (``canery``/``canary``) or one name a prefix of the other
    (``prod``/``production``).
    """
    for name in known:
        if name != new and (
            one_edit_apart(new, name) or name.startswith(new) or new.startswith(name)
        ):
            return name
    return None


@models_app.command("alias")
@friendly
def models_alias(
    model: str,
    alias: str,
    version: int,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Point ALIAS of MODEL at VERSION (promotion), e.g. kubeai models alias digits production 2.

    Any lowercase name is an alias; production, staging and canary are the conventional ones.

    A NEW alias close to an existing or conventional one (prod, prodution) warns as it is made.

    The registry records who you are from your credentials, not a name you give.

    Moving an alias needs the promoter role in the team.
    """
    checked_name("MODEL", model)
    checked_name("ALIAS", alias, schemas.AliasName)
    with registry(registry_url, context=context, team=team) as client:
        existing = sorted(client.get_model(model).aliases)
        event = client.set_alias(model, alias, version, reason=reason)
    before = "-" if event.from_version is None else f"v{event.from_version}"
    console.print(f"{model}: {alias} {before} → v{event.to_version}")
    if alias not in existing and alias not in CONVENTIONAL_ALIASES:
        meant = close_alias(alias, [*existing, *CONVENTIONAL_ALIASES])
        if meant is not None:
            err.print(
                Text.assemble(
                    ("warning:", "yellow"),
                    f" created a NEW alias {alias!r} of {model}; did you mean {meant!r}? "
                    f"(conventional aliases: {', '.join(CONVENTIONAL_ALIASES)})",
                )
            )


@models_app.command("rollback")
@friendly
def models_rollback(
    model: str,
    alias: Annotated[str, typer.Argument(help="The alias to move back.")] = "production",
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
) -> None:
    """Move ALIAS back to the version it pointed at before its last move.

    The registry records who you are from your credentials; this needs the promoter role.
    """
    checked_name("MODEL", model)
    checked_name("ALIAS", alias, schemas.AliasName)
    with registry(registry_url, context=context, team=team) as client:
        event = client.rollback_alias(model, alias, reason=reason)
    console.print(
        shown(f"{model}: {alias} v{event.from_version} → v{event.to_version} (rolled back)")
    )


@models_app.command("history")
@friendly
def models_history(
    model: str,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
) -> None:
    """The audit log of a model's alias moves, newest first (actor: the authenticated
    principal that moved the alias)."""
    checked_name("MODEL", model)
    with registry(registry_url, context=context, team=team) as client:
        page = client.alias_history(model, limit=limit)
    table = Table("when", "alias", "from", "to", "actor", "reason", title=f"{model}: alias moves")
    for e in page.items:
        add_row(
            table,
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.alias,
            "-" if e.from_version is None else f"v{e.from_version}",
            "-" if e.to_version is None else f"v{e.to_version}",
            e.actor,
            e.reason,
        )
    console.print(table)


@services_app.command("status")
@friendly
def services_status(
    service: str,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
) -> None:
    """What the team's SERVICE should serve and what each of its pods serves, with errors."""
    checked_name("SERVICE", service)
    with registry(registry_url, context=context, team=team) as client:
        s = client.get_service(service)
    console.print(Text.assemble((shown(s.name), "bold"), shown(f" (team {s.team})")))
    for a in s.assignments:
        target = f"alias {a.alias}" if a.alias else f"v{a.version}"
        resolved = "unresolved" if a.resolved_version is None else f"v{a.resolved_version}"
        canary = (
            f", canary v{a.canary_version} on {a.canary_share:.0%} of pods"
            if a.canary_version is not None and a.canary_share is not None
            else ""
        )
        console.print(shown(f"  wants {a.model}: {target} → {resolved}{canary}"))
    if not s.observed:
        console.print("no pod has reported yet")
        return
    table = Table("pod", "model", "version", "state", "seen", "error", title="observed")
    for o in s.observed:
        style = {"READY": "green", "FAILED": "red"}.get(o.state, "yellow")
        state = Text(shown(o.state), style=style)
        if o.stale:
            state.append(" (stale)", style="dim")
        add_row(table, o.pod, o.model, f"v{o.version}", state, _age(o.reported_at), o.error or "")
    console.print(table)


@datasets_app.command("list")
@friendly
def datasets_list(
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List the team's recorded datasets."""
    with registry(registry_url, context=context, team=team) as client:
        page = client.list_datasets(limit=limit, offset=offset)
        title = shown(f"team {client.team}: {plural(page.total, 'dataset')}")
    table = Table("dataset", "rows", "files", "uri", title=title)
    for d in page.items:
        files = "-" if d.manifest is None else str(len(d.manifest.files))
        add_row(table, d.name, "-" if d.rows is None else str(d.rows), files, d.uri)
    console.print(table)


@datasets_app.command("add")
@friendly
def datasets_add(
    name: str,
    from_dir: Annotated[str, typer.Option(help="Local directory holding the dataset's files.")],
    uri: Annotated[
        str, typer.Option(help="Artifact URI to upload to (s3://, oss://, gs://, file://).")
    ],
    rows: Annotated[int, typer.Option(min=0, help="Number of rows (records).")],
    description: Annotated[str, typer.Option(help="What the data is.")] = "",
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
) -> None:
    """Upload a local directory to the artifact store (sha256 manifest) and record it.

    Storage comes from the KUBEAI_ARTIFACTS_* settings.

    The same files again are idempotent; other files at the same URI are refused (immutable).
    """
    from pathlib import Path

    from glue.artifacts.settings import ArtifactSettings
    from glue.artifacts.store import ArtifactStore
    from glue.model_registry.publish import publish_dataset

    source = Path(from_dir)
    if not source.is_dir():
        fail(f"--from-dir {from_dir} is not a directory", ExitCode.BAD_INPUT)
    with registry(registry_url, context=context, team=team) as client:
        assert client.team is not None  # registry() exits 2 when no team is known
        published = publish_dataset(
            store=ArtifactStore(ArtifactSettings()),
            registry=client,
            source_dir=source,
            uri=uri,
            name=name,
            team=client.team,
            rows=rows,
            description=description,
        )
    record = published.record
    size = (
        f"{plural(len(m.files), 'file')}, {plural(m.total_bytes, 'byte')}"
        if (m := record.manifest) is not None
        else "no manifest"
    )
    console.print(
        shown(
            f"dataset {record.name!r}: {size} at {record.uri}"
            + ("" if published.created else " (already recorded)")
        )
    )


@app.command("lineage")
@friendly
def lineage(
    model: str,
    version: Annotated[
        str | None,
        typer.Argument(help="Version number or alias; omitted: every version, newest first."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lineage as JSON.")] = False,
    registry_url: RegistryURL = None,
    team: TeamOption = None,
    context: ContextOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Show dataset → job → version → services and pods of a model (``glue.cli.lineage``)."""
    from glue.cli.lineage import collect, render

    checked_model_version(model, version)
    with registry(registry_url, context=context, team=team) as client:
        document = collect(client, model, version, limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=True))
    else:
        console.print(render(document))


@auth_app.command("whoami")
@friendly
def auth_whoami(
    registry_url: RegistryURL = None,
    context: ContextOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Who the registry says you are: name, how you authenticated, groups, roles per team."""
    with registry(registry_url, context=context, need_team=False) as client:
        who = client.whoami()
    if as_json:
        # ASCII only: a name with a C1 control character (\x9b) is escaped, not printed raw
        typer.echo(json.dumps(who.model_dump(mode="json"), indent=2, ensure_ascii=True))
        return
    table = Table("", "", show_header=False, title="the registry knows you as")
    add_row(table, "name", who.name)
    add_row(table, "method", who.method)
    add_row(table, "groups", ", ".join(who.groups) or "-")
    add_row(table, "platform admin", "yes" if who.admin else "no")
    if who.pod:
        add_row(table, "pod", who.pod)
    for team, roles in sorted(who.teams.items()):
        add_row(table, "every team" if team == "*" else f"team {team}", ", ".join(roles))
    if not who.teams and not who.admin:
        add_row(table, "teams", "no role in any team")
    console.print(table)


@app.command()
@friendly
def audit(
    team: Annotated[
        str | None, typer.Option(help="Only this team's writes (default: every team you read).")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. alias.set.")] = None,
    principal: Annotated[str | None, typer.Option(help="Only this principal's writes.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    registry_url: RegistryURL = None,
    context: ContextOption = None,
) -> None:
    """The registry's audit log of writes, newest first: who (as authenticated), what, where."""
    if team is not None:
        checked_name("--team", team)
    with registry(registry_url, context=context, need_team=False) as client:
        page = client.audit(
            team=team, action=action, principal=principal, limit=limit, offset=offset
        )
    table = Table(
        "when",
        "principal",
        "method",
        "team",
        "action",
        "resource",
        "detail",
        title=plural(page.total, "write"),
    )
    for e in page.items:
        add_row(
            table,
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.principal,
            e.method,
            e.team,
            e.action,
            e.resource,
            json.dumps(e.detail, sort_keys=True, ensure_ascii=False) if e.detail else "",
        )
    console.print(table)
    if page.next_offset is not None:
        console.print(f"more: --offset {page.next_offset}")


@config_app.command("contexts")
def config_contexts() -> None:
    """List the contexts of the config file; * marks the current one. Tokens are not shown."""
    path = contexts.config_path()
    try:
        config = contexts.load_config(path)
    except contexts.ContextError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    table = Table("", "name", "registry", "team", "credentials", "certificate-authority")
    table.title = shown(f"{plural(len(config.contexts), 'context')} in {path}")
    for c in config.contexts:
        if c.token is not None:
            credentials = "token (inline)"
        elif c.token_file is not None:
            credentials = f"token-file {c.token_file}"
        else:
            credentials = "-"
        add_row(
            table,
            "*" if c.name == config.current_context else "",
            c.name,
            c.registry or "-",
            c.team or "-",
            credentials,
            str(c.certificate_authority or "-"),
        )
    console.print(table)


@config_app.command("use-context")
def config_use_context(name: str) -> None:
    """Make NAME the current context (written to the file; its other lines are kept)."""
    path = contexts.config_path()
    try:
        contexts.use_context(path, name)
    except contexts.ContextError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    console.print(shown(f"current context: {name} ({path})"))


@app.command()
def render(
    stack: Annotated[str, typer.Option(help="Stack name: stacks/Pulumi.<stack>.yaml.")],
    out: Annotated[
        str,
        typer.Option(
            help="Output directory: new, empty, or one an earlier render wrote (emptied first)."
        ),
    ],
    stacks_dir: Annotated[str, typer.Option(help="Directory of the stack files.")] = "stacks",
    kube_version: Annotated[str, typer.Option(help="Kubernetes version for helm.")] = "1.34.0",
) -> None:
    """Run the Pulumi program of STACK under mocks and write every object it declares."""
    from pathlib import Path

    from infra.config import ConfigError
    from infra.render import RenderError, RenderInputError, render_stack
    from infra.upstream import UpstreamError

    try:
        result = render_stack(
            stack, Path(out), stacks_dir=Path(stacks_dir), kube_version=kube_version
        )
    except (ConfigError, RenderInputError) as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    except UpstreamError as exc:
        fail(str(exc), ExitCode.UNAVAILABLE)
    except RenderError as exc:
        fail(str(exc), ExitCode.FAILED)
    except OSError as exc:  # e.g. --out cannot be written
        fail(f"--out {out}: {exc}", ExitCode.FAILED)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    console.print(f"rendered stack {stack!r} into {out}: {counts}")


@app.command()
def validate(
    directory: Annotated[str, typer.Argument(help="A directory written by `kubeai render`.")],
    crds: Annotated[
        str | None,
        typer.Option(envvar="KUBEAI_CRDS_DIR", help="Directory of upstream CRDs (YAML)."),
    ] = None,
    kube_version: Annotated[str, typer.Option(help="Kubernetes schema version.")] = "1.34.0",
) -> None:
    """Validate rendered objects: built-in kinds (kubernetes-validate, strict) and custom
    resources against their upstream CRD schemas. Exits 1 naming each object and field."""
    from pathlib import Path

    from infra.upstream import UpstreamError
    from infra.validate import CrdSchemas, crds_dir, declared_types, validate_directory

    root = Path(directory)
    if not root.is_dir():
        fail(f"{directory} is not a directory", ExitCode.BAD_INPUT)
    try:
        schemas = CrdSchemas(crds_dir(crds))
    except FileNotFoundError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    except UpstreamError as exc:
        fail(str(exc), ExitCode.UNAVAILABLE)
    checked, problems = validate_directory(root, crds=schemas, kube_version=kube_version)
    if checked == 0 and not problems:
        fail(f"no Kubernetes objects found in {directory} (*.yaml)", ExitCode.FAILED)
    for problem in problems:
        err.print(Text.assemble(("invalid:", "red"), " ", str(problem)))
    if problems:
        fail(
            f"{plural(len(problems), 'problem')} in {plural(checked, 'object')}",
            ExitCode.FAILED,
            label="",
        )
    console.print(
        f"{plural(checked, 'object')} valid "
        f"(Kubernetes {kube_version}, CRDs from {schemas.directory})"
    )
    declared = declared_types(root)
    if declared:
        listing = ", ".join(f"{count} {kind}" for kind, count in declared.items())
        console.print(
            f"{plural(sum(declared.values()), 'declared resource')} not validated here (their "
            f"objects are made at deploy time): {listing}"
        )


if __name__ == "__main__":
    app()
