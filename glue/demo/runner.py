"""``kubeai demo``: the model lifecycle end to end on real data, with real processes.

1. The digits dataset (scikit-learn's bundled 1,797 8x8 images) is written to the artifact store
   and recorded in the registry.
2. v1 is trained by the training entrypoint (``python -m glue.training.digits``, the script a
   training job container runs) and registered with its lineage.
3. A real tritonserver and a serving agent for service ``digits`` (alias ``production``) start;
   ``production`` moves to v1; the held-out test split goes through Triton (accuracy).
4. v2 is trained with other hyperparameters and registered; ``production`` moves to v2 while a
   load generator keeps sending requests; the agent hot-swaps v1 -> v2.
5. A summary is printed and ``<workdir>/report.json`` written. With ``keep_running`` the
   registry, tritonserver and the agent stay up until Ctrl-C. Every process started here is a
   member of one ``ChildProcesses`` set and stopped at the end, in every phase, also on Ctrl-C,
   SIGTERM or failure; the serving agent, stopped first, tells the registry to forget its pod.

The workdir holds ``state/`` (registry database, artifacts, model repository), ``logs/`` and
``report.json``. The demo marks a workdir it created with ``.kubeai-demo`` and only ever clears
``state/`` and ``logs/`` of a marked, new or empty directory: any other folder is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.cli.exit_codes import ExitCode
from glue.cli.invocation import kubeai_command
from glue.demo.loadgen import LoadGenerator, evaluate, summarize_swap
from glue.demo.processes import (
    ChildProcesses,
    ManagedProcess,
    ProcessFailed,
    start_registry,
    start_serving,
)
from glue.model_registry.client import RegistryClient
from glue.signals import Terminated
from glue.training.datasets import DigitsSplit, publish_digits_dataset
from glue.triton.server import TritonServerError, free_ports

SERVICE = "digits"
MODEL = "digits"
DATASET = "digits"
TEAM = "demo"
#: Each team's versions and datasets lie below ``teams/<team>/`` of the artifact root (the
#: registry refuses others, like a deployed one: ``KUBEAI_REGISTRY_ARTIFACT_TEAM_PREFIXES``).
TEAM_PREFIX = "{local_root}/teams/{team}/"
POD = "digits-local-0"
V1 = ("logistic_regression", ["C=0.05"])
V2 = ("svc", ["C=10", "gamma=0.001"])
MIN_ACCURACY = 0.90
#: File that marks a directory as a demo workdir (its state/ and logs/ may be cleared).
MARKER = ".kubeai-demo"
#: Lock file of a demo workdir, held (``flock``) by the run using it (see ``workdir_lock``).
LOCK = ".kubeai-demo.lock"
#: What the dataset step imports (scikit-learn: ~2.5 s of CPU on the first run of a new venv, when
#: its bytecode is compiled; ~0.6 s later), imported while the registry process starts.
WARM_IMPORTS = ("sklearn.datasets", "sklearn.model_selection")


class DemoError(RuntimeError):
    """The demo could not complete; the message says which step and why."""


#: SIGTERM stopped the demo (a ``KeyboardInterrupt`` with ``exit_code`` 143).
DemoTerminated = Terminated


def _check_workdir(root: Path) -> None:
    """``DemoError`` unless ``root`` is new, an empty directory or a marked demo workdir."""
    if root.exists() or root.is_symlink():
        if not root.is_dir():
            raise DemoError(f"workdir {root} exists and is not a directory; pick another")
        if not (root / MARKER).is_file() and any(root.iterdir()):
            raise DemoError(
                f"workdir {root} is not empty and is not a previous demo workdir (no {MARKER}"
                " file): the demo would clear its state/ and logs/; pick a new or empty folder"
            )


def _mark_workdir(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(
        "kubeai demo workdir: state/ and logs/ here are cleared at each `kubeai demo` run\n"
    )


@contextlib.contextmanager
def workdir_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the demo workdir ``root`` for the ``with`` block.

    The lock is ``fcntl.flock`` on ``<root>/.kubeai-demo.lock`` (released when the process ends,
    however it ends), which then holds the holder's pid and start time. ``root`` is checked and
    marked first (see ``prepare_workdir``). Raises ``DemoError`` at once, naming the holder, when
    another ``kubeai demo`` runs in ``root``: two runs in one workdir would clear each other's
    state and stop each other's processes (they share the ``KUBEAI_CHILD_OF`` marker).
    """
    try:
        _check_workdir(root)
        _mark_workdir(root)
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DemoError(f"cannot prepare the workdir {root}: {exc}") from exc
    with os.fdopen(fd, "r+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock.read().strip() or "pid unknown"
            raise DemoError(
                f"workdir {root} is in use by another kubeai demo ({holder}); wait for it to "
                "end (or stop it) or pick another --workdir"
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        lock.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.truncate(0)


def warm_imports(names: tuple[str, ...] = WARM_IMPORTS) -> threading.Thread:
    """Import ``names`` in a daemon thread (started, returned) while this process waits for a
    child: the import and the child use both cores instead of one after the other. An import
    error is left for the step that imports the module itself to raise."""

    def run() -> None:
        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=run, name="kubeai-demo-warm-imports", daemon=True)
    thread.start()
    return thread


def prepare_workdir(root: Path) -> tuple[Path, Path]:
    """Make ``root`` a demo workdir with an empty ``state/`` and no ``logs/``; (state, logs).

    ``root`` must not exist, be an empty directory, or hold the ``.kubeai-demo`` marker a previous
    run wrote: anything else is refused with ``DemoError`` (so ``--workdir .`` or ``~`` never
    loses a ``state``/``logs`` folder that is not the demo's). A file, or a directory that cannot
    be created or written, is a ``DemoError`` too. ``run_demo`` calls it holding ``workdir_lock``.
    """
    state, logs = root / "state", root / "logs"
    try:
        _check_workdir(root)
        _mark_workdir(root)
        for path in (state, logs):
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        (state / "artifacts").mkdir(parents=True)
        (state / "model-repository").mkdir()
    except OSError as exc:
        raise DemoError(f"cannot prepare the workdir {root}: {exc}") from exc
    return state, logs


def _wait_served(client: RegistryClient, version: int, *, timeout: float) -> float:
    """Wait until the pod reports ``version`` READY and nothing else READY; returns seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        observed = client.get_service(SERVICE).observed
        ready = {o.version for o in observed if o.model == MODEL and o.state == "READY"}
        if ready == {version}:
            return time.monotonic() - start
        failed = [o for o in observed if o.state == "FAILED" and o.version == version]
        if failed:
            raise DemoError(f"the agent failed to serve v{version}: {failed[0].error}")
        time.sleep(0.1)
    raise DemoError(f"v{version} was not served within {timeout:.0f}s")


def _served_accuracy(
    client: RegistryClient, triton_url: str, version: int, split: DigitsSplit, *, timeout: float
) -> tuple[float, float]:
    """Wait until ``version`` alone is served, then send the test split through Triton:
    (seconds waited, accuracy). ``DemoError`` if another version answers."""
    waited = _wait_served(client, version, timeout=timeout)
    accuracy, seen = evaluate(triton_url, MODEL, split.x_test, split.y_test)
    if seen != {version}:
        raise DemoError(f"expected answers from v{version}, got versions {seen}")
    return waited, accuracy


def _train(
    children: ChildProcesses,
    console: Console,
    env: dict[str, str],
    registry_url: str,
    spec: tuple[str, list[str]],
    log: Path,
) -> dict[str, Any]:
    """Run the training entrypoint for ``spec`` (algorithm, params) as a tracked child; returns
    the version it printed (model, version, artifact_uri, metrics)."""
    algorithm, params = spec
    tag = log.stem.removeprefix("train-")
    with _stage(console, f"training {tag} ({algorithm})"):
        trained = _run_training(children, env, registry_url, algorithm, params, log)
    _done(
        console,
        f"trained and registered {MODEL} v{trained['version']} "
        f"({algorithm}, test accuracy {trained['metrics']['accuracy']:.4f})",
    )
    return trained


def _run_training(
    children: ChildProcesses,
    env: dict[str, str],
    registry_url: str,
    algorithm: str,
    params: list[str],
    log: Path,
) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "glue.training.digits",
        "--registry-url",
        registry_url,
        "--dataset",
        DATASET,
        "--model",
        MODEL,
        "--team",
        TEAM,
        "--algorithm",
        algorithm,
        "--source-kind",
        "LocalRun",
        "--source-namespace",
        "local",
        "--source-name",
        f"digits-{algorithm.replace('_', '-')}",
        "--source-uid",
        str(uuid.uuid4()),
    ]
    for param in params:
        argv += ["--param", param]
    proc = ManagedProcess(
        f"training ({algorithm})", argv, log_path=log, env={**env, **children.env}
    )
    children.start(proc)
    code = proc.wait()
    if code != ExitCode.OK:
        raise DemoError(f"training {algorithm} failed (exit {code}):\n{proc.log_tail()}")
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    return dict(json.loads(lines[-1]))


def run_demo(
    *,
    workdir: str | Path,
    swap_seconds: float,
    clients: int,
    console: Console,
    keep_running: bool = False,
) -> dict[str, Any]:
    """Run every step; returns the report (also written to ``<workdir>/report.json``).

    With ``keep_running`` the registry, tritonserver and the serving agent stay up after the
    summary (their URLs and a ``kubeai models list`` command are printed) until Ctrl-C, which
    then ends the demo normally.

    Raises ``DemoError`` with the failing step (also for a workdir it must not use, see
    ``prepare_workdir``, and for a workdir another demo is using, see ``workdir_lock``);
    ``KeyboardInterrupt`` on Ctrl-C, ``DemoTerminated`` (a
    ``KeyboardInterrupt`` with ``exit_code`` 143) on SIGTERM, ``HungUp`` (``exit_code`` 129) on
    SIGHUP (the terminal closed), all after stopping every child
    process (each child carries ``KUBEAI_CHILD_OF=<workdir>``, see ``ChildProcesses``).
    """
    root = Path(workdir).expanduser().resolve()
    with workdir_lock(root):
        return _run_locked(
            root,
            swap_seconds=swap_seconds,
            clients=clients,
            console=console,
            keep_running=keep_running,
        )


def _run_locked(
    root: Path, *, swap_seconds: float, clients: int, console: Console, keep_running: bool
) -> dict[str, Any]:
    """``run_demo`` in ``root``, with its ``workdir_lock`` held."""
    state, logs = prepare_workdir(root)
    (registry_port,) = free_ports(1)
    artifacts_root = str(state / "artifacts")
    env = {
        "AWS_EC2_METADATA_DISABLED": "true",
        "KUBEAI_ARTIFACTS_LOCAL_ROOT": artifacts_root,
    }
    try:
        with ChildProcesses(str(root), handle_signals=True) as children:
            warm_imports()
            with _stage(console, "starting the model registry"):
                registry_url = start_registry(
                    children,
                    port=registry_port,
                    state=state,
                    log_path=logs / "registry.log",
                    env=env,
                    team_prefixes=[TEAM_PREFIX],
                )
            _done(console, f"model registry on {registry_url} (SQLite)")
            with RegistryClient(registry_url, team=TEAM, timeout=30) as client:
                report = _lifecycle(
                    children,
                    client,
                    registry_url=registry_url,
                    state=state,
                    logs=logs,
                    env=env,
                    swap_seconds=swap_seconds,
                    clients=clients,
                    console=console,
                )
                (root / "report.json").write_text(json.dumps(report, indent=2))
                _print_summary(console, report, root / "report.json")
                bad = [v for v in report["versions"] if v["accuracy"] < MIN_ACCURACY]
                if bad:
                    raise DemoError(f"accuracy below {MIN_ACCURACY}: {bad}")
                if report["swap"]["failed_requests"]:
                    raise DemoError(
                        f"{report['swap']['failed_requests']} requests failed during the swap"
                    )
                if keep_running:
                    _serve_until_interrupted(console, report, state)
    except (ProcessFailed, TritonServerError) as exc:
        raise DemoError(str(exc)) from exc
    return report


def _serve_until_interrupted(console: Console, report: dict[str, Any], state: Path) -> None:
    """Print where everything runs and how to browse it; return on Ctrl-C (SIGTERM raises)."""
    url = report["registry_url"]
    kubeai = kubeai_command()
    console.print(
        "\nkept running (Ctrl-C stops everything):\n"
        f"  registry      {url}  (API docs {url}/docs)\n"
        f"  tritonserver  {report['triton_url']}\n"
        f"  serving agent {report['agent_metrics_url']}\n"
        f"  database      {state / 'registry.db'}\n"
        "browse what the demo produced:\n"
        f"  {kubeai} models list --registry-url {url} --team {TEAM}\n"
        f"  {kubeai} models versions {MODEL} --registry-url {url} --team {TEAM}\n"
        f"  {kubeai} services status {SERVICE} --registry-url {url} --team {TEAM}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    try:
        while True:
            signal.pause()
    except Terminated:
        raise
    except KeyboardInterrupt:
        console.print("stopping the registry, tritonserver and the serving agent")


def _lifecycle(
    children: ChildProcesses,
    client: RegistryClient,
    *,
    registry_url: str,
    state: Path,
    logs: Path,
    env: dict[str, str],
    swap_seconds: float,
    clients: int,
    console: Console,
) -> dict[str, Any]:
    """Steps 1-4 against the running registry; returns the report."""
    store = ArtifactStore(ArtifactSettings(local_root=state / "artifacts"))
    with _stage(console, "writing the digits dataset"):
        uri = store.local_uri("teams", TEAM, "datasets", DATASET)
        split, _ = publish_digits_dataset(
            store=store, registry=client, uri=uri, team=TEAM, name=DATASET
        )
    _done(
        console,
        f"dataset {DATASET!r}: {split.rows} rows "
        f"({len(split.y_train)} train / {len(split.y_test)} test) at {uri}",
    )

    v1 = _train(children, console, env, registry_url, V1, logs / "train-v1.log")

    with _stage(console, "starting tritonserver and the serving agent"):
        serving = start_serving(
            children,
            client,
            registry_url=registry_url,
            service=SERVICE,
            team=TEAM,
            model=MODEL,
            alias="production",
            pod=POD,
            model_repository=state / "model-repository",
            artifacts_root=state / "artifacts",
            logs=logs,
            env=env,
        )
    triton_url = serving.triton.http_url
    _done(
        console,
        f"tritonserver on {triton_url} (explicit model "
        f"control) + serving agent for service {SERVICE!r}",
    )

    with _stage(console, "promoting v1 to production and waiting for the agent"):
        client.set_alias(MODEL, "production", v1["version"], reason="first release")
        load_v1, acc1 = _served_accuracy(client, triton_url, v1["version"], split, timeout=120)
    _done(
        console,
        f"production → v{v1['version']} served after "
        f"{load_v1:.2f}s; accuracy through Triton {acc1:.4f}",
    )

    v2 = _train(children, console, env, registry_url, V2, logs / "train-v2.log")

    moved: dict[str, float] = {}
    move_at = min(6.0, swap_seconds / 3)

    def tick(elapsed: float) -> None:
        if not moved and elapsed >= move_at:
            moved["at"] = time.monotonic()
            client.set_alias(
                MODEL,
                "production",
                v2["version"],
                reason="better accuracy",
            )

    with _stage(
        console,
        f"hot swap under load: {clients} clients for {swap_seconds:.0f}s; "
        f"production → v{v2['version']} after {move_at:.0f}s",
    ):
        generator = LoadGenerator(
            triton_url, MODEL, split.x_test, clients=clients, duration=swap_seconds
        )
        samples = generator.run(on_tick=tick)
    if "at" not in moved:
        raise DemoError("the alias was never moved during the load run")
    swap = summarize_swap(samples, moved_at=moved["at"], new_version=v2["version"])
    _, acc2 = _served_accuracy(client, triton_url, v2["version"], split, timeout=60)
    _done(
        console,
        f"hot swap v{v1['version']} → v{v2['version']}: "
        f"{swap['requests_sent']} requests, {swap['failed_requests']} failed, "
        f"swap {swap['swap_duration_seconds']:.2f}s; accuracy {acc2:.4f}",
    )
    status = client.get_service(SERVICE)
    return {
        "dataset": {
            "name": DATASET,
            "rows": split.rows,
            "train_rows": len(split.y_train),
            "test_rows": len(split.y_test),
            "uri": uri,
        },
        "versions": [
            {
                "version": v1["version"],
                "algorithm": V1[0],
                "params": V1[1],
                "accuracy": round(acc1, 4),
                "artifact_uri": v1["artifact_uri"],
            },
            {
                "version": v2["version"],
                "algorithm": V2[0],
                "params": V2[1],
                "accuracy": round(acc2, 4),
                "artifact_uri": v2["artifact_uri"],
            },
        ],
        "swap": {
            "from_version": v1["version"],
            "to_version": v2["version"],
            "clients": clients,
            "load_seconds": swap_seconds,
            **swap,
        },
        "service": {
            "name": SERVICE,
            "observed": [
                {"pod": o.pod, "model": o.model, "version": o.version, "state": o.state}
                for o in status.observed
            ],
        },
        "registry_url": registry_url,
        "triton_url": triton_url,
        "agent_metrics_url": serving.metrics_url,
        "logs": str(logs),
    }


@contextlib.contextmanager
def _stage(console: Console, text: str) -> Iterator[None]:
    """A step in progress: a spinner with ``text`` on a terminal; elsewhere (a pipe, a CI log,
    where rich shows no spinner) ``… text`` printed when the step starts, so a log shows what
    runs before its ``✓`` line."""
    if console.is_terminal:
        with console.status(text):
            yield
    else:
        console.print(Text.assemble(("…", "dim"), " ", text))
        yield


def _done(console: Console, text: str) -> None:
    """One finished step: a green check mark, then ``text`` printed literally (no markup)."""
    console.print(Text.assemble(("✓", "green"), " ", text))


def _print_summary(console: Console, report: dict[str, Any], path: Path) -> None:
    table = Table("version", "algorithm", "accuracy (Triton)", "artifact", title="model versions")
    for v in report["versions"]:
        table.add_row(f"v{v['version']}", v["algorithm"], f"{v['accuracy']:.4f}", v["artifact_uri"])
    console.print(table)
    swap = report["swap"]
    lat = Table(
        "phase",
        "requests",
        "p50 ms",
        "p99 ms",
        title=f"hot swap v{swap['from_version']} → v{swap['to_version']}",
    )
    for phase in ("before", "during", "after"):
        p = swap["latency_ms"][phase]
        lat.add_row(phase, str(p["count"]), str(p["p50"]), str(p["p99"]))
    console.print(lat)
    console.print(
        f"requests sent {swap['requests_sent']}, failed {swap['failed_requests']}, "
        f"swap duration {swap['swap_duration_seconds']:.3f}s"
    )
    console.print(f"report: {path}")
