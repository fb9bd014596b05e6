"""``kubeai dev``: tools for people working on the platform itself.

``kubeai dev cluster up`` runs a real Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, KWOK) in the foreground with KWOK nodes for a platform
stack's node pools, until Ctrl-C. It always runs inside its own loopback-only network namespace:
started elsewhere, it builds the binaries if needed (that needs the Go module proxy) and re-runs
itself under ``unshare --net`` (root or CAP_SYS_ADMIN). It prints the kubeconfig and the
``nsenter`` line to use the cluster from another shell. With ``--install`` it also installs each
``--stack`` as ``pulumi up`` would (``infra.controlplane.install``; a team stack on top of its
platform stack, whose node pools then become the nodes), removes the upstream admission webhook
configurations whose servers cannot run under KWOK, and reports rejections and workloads not yet
Available. While it runs, the stand-ins of ``infra.controlplane.standins`` bind claims and remove
upstream webhook configurations, and its kubeconfig also holds the contexts the stack files name
(``kind-kubeai``), so ``kubeai stack up --stack local --kubeconfig <it>`` (the real engine) works
against it from another shell. Exit status 1 when the plane cannot start, 2 for a bad stack.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Tools for working on the platform itself.", no_args_is_help=True)
cluster_app = typer.Typer(
    help="A real Kubernetes control plane on loopback with KWOK nodes.", no_args_is_help=True
)
app.add_typer(cluster_app, name="cluster")

console = Console()
err = Console(stderr=True)
REPO_ROOT = Path(__file__).resolve().parents[2]

if TYPE_CHECKING:
    from infra.controlplane.harness import ControlPlane
    from infra.controlplane.install import InstallPlan


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@cluster_app.command("up")
def cluster_up(
    stack: Annotated[
        list[str] | None,
        typer.Option(
            "--stack",
            help="Platform stack(s) whose node pools become KWOK nodes; with --install, stacks to "
            "install (a team stack on its platform, whose pools become the nodes).",
        ),
    ] = None,
    workdir: Annotated[
        Path, typer.Option(help="Parent folder of the run's files (PKI, kubeconfig, logs).")
    ] = Path(".kubeai/cluster"),
    nodes_per_pool: Annotated[int, typer.Option(min=0, max=1000)] = 2,
    system_nodes: Annotated[int, typer.Option(min=0, max=1000, help="Extra CPU nodes.")] = 1,
    stacks_dir: Annotated[Path, typer.Option(help="Folder of Pulumi.<stack>.yaml.")] = REPO_ROOT
    / "stacks",
    build: Annotated[bool, typer.Option(help="Build missing binaries first.")] = True,
    keep: Annotated[bool, typer.Option(help="Keep the run's folder after stopping.")] = False,
    install: Annotated[
        bool, typer.Option(help="Install the stacks as `pulumi up` would (platform first).")
    ] = False,
) -> None:
    """Run the control plane in the foreground (Ctrl-C stops every process)."""
    from glue.signals import Terminated
    from infra.config import ConfigError
    from infra.controlplane import build as builder
    from infra.controlplane.harness import CONTEXT, ControlPlane, ControlPlaneError
    from infra.controlplane.install import InstallError, plans_for, platform_of
    from infra.controlplane.netns import loopback_only_problem, unshare_command, unshare_problem
    from infra.controlplane.nodes import stack_nodes, stack_pools
    from infra.controlplane.standins import StandIns
    from infra.render import RenderError

    stacks = stack or ["local"]
    try:
        # A team stack's nodes are its platform's; without --install it names no nodes at all.
        platforms = stacks
        if install:
            platforms = list(dict.fromkeys(platform_of(name, stacks_dir) for name in stacks))
        pools = [pool for name in platforms for pool in stack_pools(name, stacks_dir)]
        nodes = stack_nodes(pools, per_pool=nodes_per_pool, system_nodes=system_nodes)
    except (ConfigError, RenderError, ValueError) as exc:
        raise _fail(str(exc), 2) from None

    if loopback_only_problem() is not None:
        problem = unshare_problem()
        if problem:
            raise _fail(f"cannot create a loopback-only network namespace: {problem}")
        if build:
            try:
                builder.build()
            except builder.BuildError as exc:
                raise _fail(str(exc)) from None
        args = [sys.executable, "-m", "glue.cli.dev", "cluster", "up", "--no-build"]
        args += [f"--stack={name}" for name in stacks]
        args += [f"--workdir={workdir.resolve()}", f"--stacks-dir={stacks_dir.resolve()}"]
        args += [f"--nodes-per-pool={nodes_per_pool}", f"--system-nodes={system_nodes}"]
        args += ["--keep" if keep else "--no-keep", "--install" if install else "--no-install"]
        sys.stdout.flush()
        os.execvp("unshare", unshare_command(args))  # noqa: S606 - argv list, no shell

    try:
        binaries = builder.installed()
    except builder.BuildError as exc:
        raise _fail(str(exc)) from None
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="plane-", dir=workdir)).resolve()
    plans = []
    if install:
        try:
            for name in stacks:
                plans += plans_for(name, run_dir / "render", stacks_dir=stacks_dir)
        except (ConfigError, RenderError, InstallError) as exc:
            raise _fail(str(exc), 2) from None
    plane = ControlPlane(run_dir, binaries, log=lambda line: console.print(escape(line)))
    try:
        with plane, StandIns(plane.client, log=lambda line: console.print(escape(line))):
            # Stack files name the context of the cluster they were written for (kind-kubeai).
            plane.write_kubeconfig(
                plane.kubeconfig, [CONTEXT, *_stack_contexts(stacks, stacks_dir)]
            )
            plane.add_nodes(nodes)
            if plans:
                _install(plane, plans)
            _print_usage(plane, len(nodes))
            while True:
                signal.pause()  # until Ctrl-C (KeyboardInterrupt) or SIGTERM/SIGHUP (Terminated)
    except ControlPlaneError as exc:
        raise _fail(f"{exc}\n(logs in {run_dir / 'logs'})") from None
    except Terminated as exc:
        console.print("stopped")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def _install(plane: ControlPlane, plans: list[InstallPlan]) -> None:
    """Install ``plans`` (each stack once), remove their upstream webhook configurations, wait
    for their workloads; prints rejections and what is not Available."""
    from infra.controlplane.install import Installer, wait_available

    done: dict[str, InstallPlan] = {}
    with plane.client() as api:
        installer = Installer(api, log=lambda line: console.print(escape(line)))
        for plan in plans:
            if plan.stack in done:
                continue
            done[plan.stack] = plan
            report = installer.install(plan)
            for rejection in report.rejections:
                err.print(f"[red]rejected:[/red] {escape(str(rejection))}")
            removed = installer.remove_webhooks(plan)
            if removed:
                console.print(
                    f"removed {len(removed)} upstream webhook configuration(s) (their servers "
                    "cannot run under KWOK)"
                )
        for key, why in wait_available(api, done.values(), timeout=120).items():
            err.print(f"[yellow]not Available:[/yellow] {escape(key)}: {escape(why)}")


def _stack_contexts(stacks: list[str], stacks_dir: Path) -> list[str]:
    """The kubeconfig contexts the stack files name (``kubernetes:context``,
    ``kubeai:cluster.existing.context``); unreadable files name none."""
    import yaml

    names: list[str] = []
    for name in stacks:
        try:
            config = yaml.safe_load((stacks_dir / f"Pulumi.{name}.yaml").read_text()).get("config")
        except (OSError, AttributeError, yaml.YAMLError):
            continue
        if not isinstance(config, dict):
            continue
        existing = (config.get("kubeai:cluster") or {}).get("existing") or {}
        for context in (config.get("kubernetes:context"), existing.get("context")):
            if isinstance(context, str) and context:
                names.append(context)
    return names


def _print_usage(plane: ControlPlane, nodes: int) -> None:
    """Where the kubeconfig is and how to reach the plane from another shell."""
    enter = f"nsenter --net=/proc/{os.getpid()}/ns/net"
    console.print(
        f"control plane ready in {plane.ready_after_s:.1f} s on {plane.server}, "
        f"{nodes} KWOK nodes\n"
        f"kubeconfig: {plane.kubeconfig}\n"
        f"logs:       {plane.logs_dir}\n"
        "It listens on loopback inside this process's own network namespace; from another shell:\n"
        f"  {enter} kubectl --kubeconfig {plane.kubeconfig} get nodes\n"
        f"  {enter} bash   # a shell in the namespace (KUBECONFIG={plane.kubeconfig})\n"
        f"  {enter} kubeai stack up --stack local --kubeconfig {plane.kubeconfig}\n"
        "Ctrl-C stops every process.",
        highlight=False,
        soft_wrap=True,
    )


if __name__ == "__main__":
    app()
