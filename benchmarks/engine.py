"""The Pulumi engine (``infra.engine``) driving the example stacks on the real control plane,
beside our direct installer (``infra.controlplane.install``).

Rows (``python -m benchmarks.run --only engine``; ``--quick`` runs the same steps):

- **engine steps**: on a fresh ``ControlPlane`` with KWOK nodes for the ``local`` platform
  stack's node pools (``stack_nodes(..., per_pool=2, system_nodes=2)``) and the stand-ins a real
  cluster would bring (``infra.controlplane.standins.StandIns``: volumes for claims, upstream
  admission webhooks removed), one ``infra.engine.driver.Engine`` (Automation API, inline
  program, file backend in the work folder, stack files a copy of ``stacks/``) runs, in order:
  ``up local``, a no-change ``preview local``, a no-change ``up local``, ``up
  team-vision-local``, a no-change ``up`` of it, ``destroy team-vision-local``, ``destroy
  local``. Per step: wall seconds of the driver call (the engine and the provider start, plan,
  apply and wait for readiness as ``pulumi up`` does), the engine's resource change counts
  (``summary.resource_changes``; ``change_summary`` for the preview) and the engine processes'
  memory during it.
- **engine memory**: a thread samples every 0.2 s every descendant of the benchmark process whose
  executable is ``pulumi`` or ``pulumi-resource-kubernetes`` (the Automation API starts
  ``pulumi``, which starts the provider; new ones for each operation): the largest ``VmHWM`` per
  binary over the run and per step, and the peak of their summed ``VmRSS``. A process living
  less than 0.2 s can be missed, and its ``VmHWM`` is known up to its last sample. The inline
  program runs inside the benchmark process itself; that process's ``VmHWM`` after the engine
  steps is reported apart (it includes the benchmark and the control plane harness).
- **installer, side by side**: on a second fresh control plane, ``benchmarks.cluster
  .measure_apply`` for ``team-vision-local``: ``local`` then the team stack installed with
  ``infra.controlplane.install`` (``Installer.install``, ``remove_webhooks``,
  ``wait_available``), each timed from the first apply to everything Available. Its KWOK nodes
  are the install plan's (one system node instead of two); it has no preview, no-change or
  destroy step.

Everything runs inside a loopback-only network namespace: outside one, this module re-executes
itself under ``unshare --net`` (``benchmarks.support.run_in_namespace``) and refuses to run when
that is impossible, or when the engine or control plane binaries are missing
(``BenchmarkSkipped``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.cluster import STACKS_DIR, measure_apply, peak_rss
from benchmarks.support import (
    BenchmarkSkipped,
    NamedProcessPeaks,
    RssSampler,
    mib,
    namespace_arguments,
    namespace_main,
    proc_status_bytes,
    run_in_namespace,
)
from infra.controlplane import build as controlplane_build
from infra.controlplane.components import KUBERNETES_VERSION
from infra.controlplane.harness import ControlPlane
from infra.controlplane.nodes import stack_nodes, stack_pools
from infra.engine import build as engine_build
from infra.engine.components import KUBERNETES_PROVIDER_VERSION, PULUMI_VERSION

PLATFORM = "local"
TEAM = "team-vision-local"
#: The kubeconfig context the ``local`` stack names (``kubernetes:context``).
CONTEXT = "kind-kubeai"
PASSPHRASE = "bench"
#: Executables whose memory is sampled: the engine and the Kubernetes provider.
ENGINE_PROCESSES = ("pulumi", "pulumi-resource-kubernetes")
SAMPLE_INTERVAL = 0.2
DRIVER_MODULE = "infra.engine.driver"
#: The engine steps, in order: (key, label, operation, stack).
STEPS: tuple[tuple[str, str, str, str], ...] = (
    ("platform_up", f"up {PLATFORM}", "up", PLATFORM),
    ("platform_preview_no_change", f"preview {PLATFORM} (no change)", "preview", PLATFORM),
    ("platform_up_no_change", f"up {PLATFORM} (no change)", "up", PLATFORM),
    ("team_up", f"up {TEAM}", "up", TEAM),
    ("team_up_no_change", f"up {TEAM} (no change)", "up", TEAM),
    ("team_destroy", f"destroy {TEAM}", "destroy", TEAM),
    ("platform_destroy", f"destroy {PLATFORM}", "destroy", PLATFORM),
)

Log = Callable[[str], None]


def _say(message: str) -> None:
    print(message, flush=True)


def change_counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """The engine's ``{operation: count}`` with plain string keys (the SDK's are ``OpType``
    members), zero counts left out, sorted by operation."""
    out: dict[str, int] = {}
    for op, count in (changes or {}).items():
        if count:
            out[str(getattr(op, "value", op))] = int(count)
    return dict(sorted(out.items()))


def _result_changes(operation: str, result: Any) -> dict[str, int]:
    if operation == "preview":
        return change_counts(result.change_summary)
    return change_counts(result.summary.resource_changes)


def _missing() -> str | None:
    """Why the benchmark cannot run here (driver module or binaries missing), or None."""
    if importlib.util.find_spec(DRIVER_MODULE) is None:
        return f"engine driver missing: {DRIVER_MODULE} is not in this tree"
    for build in (controlplane_build, engine_build):
        try:
            build.installed()
        except build.BuildError as exc:
            return str(exc)
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def measure_engine(workdir: Path, binaries: dict[str, Path], log: Log) -> dict[str, Any]:
    """The engine steps (module docstring) on a fresh control plane under ``workdir``.

    A failed step is recorded with its error and ends the sequence (the later steps build on
    it); they are listed in ``not_run``.
    """
    from infra.controlplane.standins import StandIns
    from infra.engine.driver import Engine

    stacks_dir = workdir / "stacks"
    shutil.rmtree(stacks_dir, ignore_errors=True)
    shutil.copytree(STACKS_DIR, stacks_dir)
    nodes = stack_nodes(stack_pools(PLATFORM, stacks_dir), per_pool=2, system_nodes=2)
    steps: list[dict[str, Any]] = []
    out: dict[str, Any] = {"kwok_nodes": len(nodes), "steps": steps, "not_run": []}
    peaks = NamedProcessPeaks(ENGINE_PROCESSES)
    sampler = RssSampler(peaks, interval=SAMPLE_INTERVAL)
    with ControlPlane(workdir / "plane", binaries, timeout=300.0) as plane:
        plane.add_nodes(nodes)
        engine = Engine(
            stacks_dir=stacks_dir,
            state_dir=workdir / "state",
            kubeconfig=plane.write_kubeconfig(workdir / "kubeconfig", [CONTEXT]),
            environ={**os.environ, "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
        )
        operations: dict[str, Callable[[str], Any]] = {
            "up": engine.up,
            "preview": engine.preview,
            "destroy": engine.destroy,
        }
        sampler.start()
        run_started = time.monotonic()
        try:
            with StandIns(plane.client) as standins:
                for index, (key, label, operation, stack) in enumerate(STEPS):
                    row: dict[str, Any] = {"step": key, "label": label, "stack": stack}
                    peaks.take_window()
                    started = time.monotonic()
                    try:
                        result = operations[operation](stack)
                    except Exception as exc:
                        row["seconds"] = round(time.monotonic() - started, 2)
                        row["error"] = f"{type(exc).__name__}: {exc}"[:2000]
                        steps.append(row)
                        out["not_run"] = [k for k, *_ in STEPS[index + 1 :]]
                        log(f"  {label}: FAILED after {row['seconds']} s: {row['error'][:300]}")
                        break
                    ended = time.monotonic()
                    row["seconds"] = round(ended - started, 2)
                    row["resource_changes"] = _result_changes(operation, result)
                    row["peak_rss_by_process_mib"] = {
                        name: mib(value) for name, value in sorted(peaks.take_window().items())
                    }
                    row["peak_rss_sum_mib"] = mib(sampler.peak(started, ended))
                    steps.append(row)
                    log(
                        f"  {label}: {row['seconds']} s, changes {row['resource_changes']}, "
                        f"peak RSS {row['peak_rss_by_process_mib']} MiB"
                    )
            out["standins"] = {
                "volumes_bound": len(standins.volumes),
                "webhooks_removed": len(standins.webhooks),
                "errors": standins.errors,
            }
        finally:
            sampler.stop()
        out["peak_rss"] = {
            "by_process_mib": {name: mib(value) for name, value in sorted(peaks.peaks.items())},
            "processes_seen": {name: len(pids) for name, pids in peaks.pids.items()},
            "peak_of_sum_mib": mib(sampler.peak(run_started, time.monotonic())),
            "sample_interval_seconds": SAMPLE_INTERVAL,
        }
        out["benchmark_process_vmhwm_mib"] = mib(proc_status_bytes(os.getpid()).get("VmHWM", 0))
        out["control_plane_peak_rss"] = peak_rss(plane)
    return out


def measure(workdir: Path, log: Log = _say) -> dict[str, Any]:
    """The engine steps, then the installer beside it, in a loopback-only namespace (raises
    ``NotIsolatedError`` outside one), in emptied ``workdir/engine`` and ``workdir/installer``
    folders."""
    from infra.controlplane.netns import require_loopback_only

    require_loopback_only()
    binaries = controlplane_build.installed()
    # A previous run's etcd data and engine state would be reused: start from empty folders.
    for folder in (workdir / "engine", workdir / "installer"):
        shutil.rmtree(folder, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "versions": {
            "pulumi": PULUMI_VERSION,
            "pulumi-resource-kubernetes": KUBERNETES_PROVIDER_VERSION,
            "pulumi (Python SDK)": _version("pulumi"),
            "pulumi-kubernetes (Python SDK)": _version("pulumi-kubernetes"),
            "kubernetes": KUBERNETES_VERSION,
        },
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    log(f"engine: {' → '.join(label for _, label, _, _ in STEPS)} ...")
    started = time.monotonic()
    try:
        result["engine"] = measure_engine(workdir / "engine", binaries, log)
    except Exception as exc:  # the installer row still runs
        result["engine"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        log(f"  engine: FAILED: {result['engine']['error'][:300]}")
    result["engine_seconds"] = round(time.monotonic() - started, 1)
    log(f"installer (infra.controlplane.install): {PLATFORM}, then {TEAM} ...")
    try:
        result["installer"] = measure_apply(workdir / "installer", binaries, log, stacks=[TEAM])
    except Exception as exc:
        result["installer"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return result


def run_engine_benchmark(*, workdir: Path, on_line: Log = _say) -> dict[str, Any]:
    """Run the engine benchmark in a fresh loopback-only network namespace (a child process
    ``unshare --net ... python -m benchmarks.engine``), relaying its progress lines to
    ``on_line``; returns its results.

    Raises ``BenchmarkSkipped`` when the engine driver or the engine or control plane binaries
    are missing, or ``unshare`` is unavailable; ``RuntimeError`` when the child fails.
    """
    missing = _missing()
    if missing:
        raise BenchmarkSkipped(missing)
    workdir.mkdir(parents=True, exist_ok=True)
    args = ["--workdir", str(workdir)]
    return run_in_namespace("benchmarks.engine", args, workdir / "engine.json", on_line)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.engine [--workdir DIR] [--out FILE]``: re-executes itself in a
    loopback-only namespace, or runs there (``--in-namespace``); refuses elsewhere."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__)
    namespace_arguments(parser, "engine")
    args = parser.parse_args(argv)
    return namespace_main(
        args,
        lambda: run_engine_benchmark(workdir=args.workdir),
        lambda: measure(args.workdir),
    )


if __name__ == "__main__":
    sys.exit(main())
