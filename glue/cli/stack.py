"""``kubeai stack``: run a stack's Pulumi program through the engine built by ``make tools``.

``kubeai stack up|preview|destroy|outputs --stack S`` read ``stacks/Pulumi.<S>.yaml`` and run the
same program ``pulumi up`` runs, as an Automation API inline program (``infra.engine.driver``:
state in a file backend under ``.kubeai/pulumi/``, passphrase secrets provider). The engine's
progress is printed as it runs. ``destroy`` asks for confirmation unless ``--yes``.

Exit status (``glue.cli.exit_codes``): 0 done; 1 the update failed (the engine's diagnostics
are printed above the one-line summary); 2 bad input (no such stack file, no passphrase, no
platform stack for a team stack, destroy not confirmed); 3 the engine binaries are missing
(``make engine``). Never a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from glue.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from infra.engine.driver import Engine

app = typer.Typer(
    help="Run a stack's Pulumi program (up, preview, destroy) with the engine built here.",
    no_args_is_help=True,
)
console = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)

StackName = Annotated[
    str, typer.Option("--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml.")
]
StacksDir = Annotated[
    Path | None, typer.Option(help="Folder of Pulumi.<stack>.yaml (default: stacks/).")
]
StateDir = Annotated[
    Path | None,
    typer.Option(help="Backend, workspace and PULUMI_HOME (default: .kubeai/pulumi/)."),
]
Kubeconfig = Annotated[
    Path | None,
    typer.Option(help="Kubeconfig for the Kubernetes provider (default: $KUBECONFIG)."),
]


def _engine(stacks_dir: Path | None, state_dir: Path | None, kubeconfig: Path | None) -> Engine:
    from infra.engine.driver import DEFAULT_STACKS_DIR, DEFAULT_STATE_DIR, Engine

    if kubeconfig is not None and not kubeconfig.is_file():
        _fail(f"--kubeconfig {kubeconfig}: no such file", ExitCode.BAD_INPUT)
    return Engine(
        stacks_dir=stacks_dir or DEFAULT_STACKS_DIR,
        state_dir=state_dir or DEFAULT_STATE_DIR,
        kubeconfig=kubeconfig,
    )


def _fail(message: str, code: ExitCode) -> NoReturn:
    err.print(f"error: {message}")
    raise typer.Exit(int(code))


def _run(engine: Engine, operation: str, stack: str) -> object:
    """Run ``operation`` on ``stack``, streaming the engine's output; exits on StackError."""
    from infra.engine.driver import EngineUnavailableError, StackError, StackInputError

    started = time.monotonic()
    try:
        return getattr(engine, operation)(stack, on_output=_print_line)
    except StackInputError as exc:
        _fail(str(exc), ExitCode.BAD_INPUT)
    except EngineUnavailableError as exc:
        _fail(str(exc), ExitCode.UNAVAILABLE)
    except StackError as exc:
        _fail(f"{exc} ({time.monotonic() - started:.1f} s)", ExitCode.FAILED)


def _print_line(line: str) -> None:
    console.print(line.rstrip("\n"), soft_wrap=True)


@app.command("up")
def up(
    stack: StackName,
    stacks_dir: StacksDir = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Create or update the stack's resources (`pulumi up`)."""
    started = time.monotonic()
    result = _run(_engine(stacks_dir, state_dir, kubeconfig), "up", stack)
    changes = getattr(getattr(result, "summary", None), "resource_changes", None) or {}
    console.print(
        f"stack {stack}: up done in {time.monotonic() - started:.1f} s ({_counts(changes)})"
    )


@app.command("preview")
def preview(
    stack: StackName,
    stacks_dir: StacksDir = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Show what `up` would change, changing nothing."""
    result = _run(_engine(stacks_dir, state_dir, kubeconfig), "preview", stack)
    changes = getattr(result, "change_summary", None) or {}
    console.print(f"stack {stack}: preview ({_counts(changes)})")


@app.command("destroy")
def destroy(
    stack: StackName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    stacks_dir: StacksDir = None,
    state_dir: StateDir = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Delete the stack's resources (CRDs stay: they are retained on delete)."""
    engine = _engine(stacks_dir, state_dir, kubeconfig)
    if not yes and not typer.confirm(f"Delete every resource of stack {stack!r}?", default=False):
        _fail("not confirmed (pass --yes to skip the question)", ExitCode.BAD_INPUT)
    started = time.monotonic()
    result = _run(engine, "destroy", stack)
    changes = getattr(getattr(result, "summary", None), "resource_changes", None) or {}
    console.print(
        f"stack {stack}: destroy done in {time.monotonic() - started:.1f} s ({_counts(changes)})"
    )


@app.command("outputs")
def outputs(
    stack: StackName,
    stacks_dir: StacksDir = None,
    state_dir: StateDir = None,
) -> None:
    """Print the stack's outputs as JSON."""
    values = _run(_engine(stacks_dir, state_dir, None), "outputs", stack)
    console.print(json.dumps(values, indent=2, sort_keys=True))


def _counts(changes: dict[str, int]) -> str:
    """``create 57, same 3`` from the engine's operation -> count map; "no changes" when only
    ``same`` and ``read`` (existing objects looked at, e.g. the cluster identity) occur."""
    shown = {op: n for op, n in sorted(changes.items()) if n}
    if set(shown) <= {"same", "read"}:
        same = shown.get("same", 0)
        return "no changes" + (f", {same} unchanged" if same else "")
    return ", ".join(f"{op} {n}" for op, n in shown.items())
