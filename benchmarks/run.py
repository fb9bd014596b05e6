"""``python -m benchmarks.run``: run the benchmarks, print the tables, write the results.

Options: ``--only swap|registry|readpath|stacks|cluster|engine|lifecycle`` (one benchmark),
``--quick`` (shorter: fewer registrations, shorter load windows, 1/5/20/50 team stacks instead of
1/10/100/500, 100 KWOK GPU nodes and 1,000 pods instead of 1,000 and 10,000, 20 training jobs
and 3 promotions instead of 100 and 8; the engine benchmark runs the same steps),
``--registrations N``, ``--out DIR`` (default ``.kubeai/bench``).
Results go to ``<out>/results.json``; work directories and server logs to ``<out>/work/``.
Every number is measured in this run; a benchmark that fails part-way keeps what it measured
beside its ``error`` (``benchmarks.support.keeping_partial``). Exit status: 0 when every selected
benchmark ran (parts skipped for a missing tool are listed in the JSON), 1 when one failed, 2
when this venv lacks the benchmarks' dependencies (use ``make bench``), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.support import OUT_DIR, BenchmarkFailed, BenchmarkSkipped

# The benchmarks' own dependencies (rich, numpy, httpx, MLflow's server...) are installed in
# .venv-bench by `make bench`; in another venv `--help` still works and a run says where to go.
try:
    from rich.console import Console
    from rich.table import Table

    from benchmarks.cluster import SCALE_ROWS, run_cluster_benchmark
    from benchmarks.engine import PLATFORM, STEPS, TEAM, run_engine_benchmark
    from benchmarks.lifecycle import run_lifecycle_benchmark
    from benchmarks.readpath import run_readpath_benchmark
    from benchmarks.registry import CLIENTS, run_registry_benchmark
    from benchmarks.stacks import (
        BUDGET,
        QUICK_BUDGET,
        QUICK_SIZES,
        SIZES,
        platform_program_rows,
        run_stacks_benchmark,
        stacks_tables,
    )
    from benchmarks.support import apply_quiet_env, machine_info
    from benchmarks.swap import run_swap_benchmark
except ModuleNotFoundError as exc:
    _MISSING: ModuleNotFoundError | None = exc
else:
    _MISSING = None


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--only",
        choices=("swap", "registry", "readpath", "stacks", "cluster", "engine", "lifecycle"),
        help="run one benchmark",
    )
    parser.add_argument("--quick", action="store_true", help="a shorter run (smoke test)")
    parser.add_argument(
        "--registrations", type=int, help="registrations per configuration (400; quick: 100)"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="results directory")
    args = parser.parse_args(argv)
    if args.registrations is not None and not 1 <= args.registrations <= 100_000:
        parser.error("--registrations must be between 1 and 100000")
    return args


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def swap_table(result: dict[str, Any]) -> Table:
    """Hot swap and restart rollout side by side, per client count: the stall target."""
    runs = result["runs"]
    header = []
    for run in runs:
        n = run["load"]["clients"]
        header += [f"hot swap, {n} cl.", f"restart, {n} cl."]
    table = Table(
        "",
        *header,
        title=(
            f"model rollout v1 → v2 under load: {result['target']}"
            + (" [--quick: fewer requests]" if result["requests_per_scenario"] < 100_000 else "")
        ),
    )
    scenarios = [run[key] for run in runs for key in ("hot_swap", "restart_rollout")]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("requests sent", lambda r: r["requests_sent"]),
        ("failed requests", lambda r: r["failed_requests"]),
        ("steady p50 / p99 (ms)", lambda r: _pair(r["steady_latency_ms"])),
        ("max during rollout (ms)", lambda r: _cell(r["rollout_max_latency_ms"])),
        ("bound 2 x steady p99 + 10 (ms)", lambda r: _cell(r["bound_ms"])),
        ("bound met", lambda r: "yes" if r["bound_met"] else "NO"),
        (
            "steady max, same length before (ms)",
            lambda r: _cell(r["steady_same_length_max_latency_ms"]),
        ),
        ("steady max, whole steady state (ms)", lambda r: _cell(r["steady_max_latency_ms"])),
        ("rollout start → every request v2 (s)", lambda r: _cell(r["all_v2_after_seconds"], 2)),
        ("rollout start → old version gone (s)", lambda r: _cell(r["rollout_seconds"], 2)),
        ("requests/s, whole run", lambda r: _cell(r["requests_per_second"], 0)),
        ("extra peak memory (MiB)", lambda r: _cell(r["memory_mib"]["extra_peak"])),
        ("accuracy after (v2)", lambda r: _cell(r["accuracy_after"], 4)),
    ]
    for label, value in rows:
        table.add_row(label, *(str(value(r)) for r in scenarios))
    return table


def swap_large_table(result: dict[str, Any]) -> Table:
    """The large model's rollout: hot swap vs restart rollout (failures, time, memory)."""
    large = result["large_model"]
    hot, restart = large["hot_swap"], large["restart_rollout"]
    gib = large["weights_bytes_per_version"] / (1 << 30)
    table = Table(
        "",
        "hot swap",
        "restart rollout",
        title=(
            f"large model rollout v1 → v2 ({gib:.2f} GiB of weights per version, "
            f"{large['load']['clients']} clients)"
        ),
    )
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("requests sent", lambda r: r["requests_sent"]),
        ("failed requests", lambda r: r["failed_requests"]),
        ("rollout start → every request v2 (s)", lambda r: _cell(r["all_v2_after_seconds"], 2)),
        ("rollout start → old version gone (s)", lambda r: _cell(r["rollout_seconds"], 2)),
        ("steady p50 / p99 (ms)", lambda r: _pair(r["steady_latency_ms"])),
        ("max during rollout (ms)", lambda r: _cell(r["rollout_max_latency_ms"])),
        ("Triton RSS before rollout (MiB)", lambda r: _cell(r["memory_mib"]["baseline"])),
        ("Triton RSS peak (MiB)", lambda r: _cell(r["memory_mib"]["peak"])),
        ("extra peak memory (MiB)", lambda r: _cell(r["memory_mib"]["extra_peak"])),
    ]
    for label, value in rows:
        table.add_row(label, str(value(hot)), str(value(restart)))
    return table


def _in_sections(
    table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """``rows`` one by one, with a section line added to ``table`` where the values of
    ``keys`` change from one row to the next."""
    previous = None
    for row in rows:
        group = tuple(row[k] for k in keys)
        if previous is not None and group != previous:
            table.add_section()
        previous = group
        yield row


def _pair(p: dict[str, Any]) -> str:
    return f"{_cell(p['p50'], 2)} / {_cell(p['p99'], 2)}"


def registry_table(result: dict[str, Any]) -> Table:
    """One row per (backend, clients, server), our registry and MLflow adjacent; our rows show
    the ratio to MLflow's best row of the same backend and clients, every row the server's and
    the client's CPU per registration."""
    goals = ", ".join(
        f"{g['backend']} {g['clients']} clients: {_cell(g['ratio'], 2)} x MLflow, "
        f"p99 {_cell(g['ours_p99_ms'])} ms ({'met' if g['goal_met'] else 'not met'})"
        for g in result.get("goal", [])
        if g["clients"] == max(result["clients"])
    )
    table = Table(
        "backend",
        "clients",
        "server",
        "reg/s",
        "vs MLflow",
        "p50 ms",
        "p99 ms",
        "errors",
        "versions 1..N",
        "CPU ms/reg server / client",
        title=(
            f"model version registration, {result['registrations_per_configuration']} per row, "
            "one model per row"
        ),
        caption=f"goal >= 5 x MLflow, p99 <= 100 ms; {goals}" if goals else None,
    )
    for row in _in_sections(table, result["rows"], ("backend", "clients")):
        versions = row["versions"]
        check = (
            f"yes ({versions['listed']})"
            if versions["contiguous_1_to_n"] and versions["responses_match_listing"]
            else f"NO: {versions['listed']} listed, {versions['missing_count']} missing"
        )
        errors = str(row["errors"])
        if row["not_attempted"]:
            errors += f" (+{row['not_attempted']} not sent)"
        cpu = row.get("cpu_ms_per_registration", {})
        table.add_row(
            row["backend"],
            str(row["clients"]),
            row["server"],
            _cell(row["registrations_per_second"]),
            f"{_cell(row['ratio_to_mlflow_best'], 2)} x" if "ratio_to_mlflow_best" in row else "",
            _cell(row["latency_ms"]["p50"]),
            _cell(row["latency_ms"]["p99"]),
            errors,
            check,
            f"{_cell(cpu.get('server'), 2)} / {_cell(cpu.get('client'), 2)}",
        )
    return table


def readpath_tables(result: dict[str, Any]) -> list[Table]:
    """The agents' read path: one row per (backend, clients, route, server), MLflow's alias GET
    beside ours; then the alias move -> all agents loading row."""
    goal = result["goal"]
    table = Table(
        "backend",
        "clients",
        "route",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "goal",
        title=(
            f"agents' read path ({result['workers']} workers, {result['load_generator']}, "
            f"{result['seconds_per_row']:g} s/row; goal at {goal['clients']} clients: "
            f">= {goal['rps_at_least']} req/s, p99 <= {goal['p99_ms_at_most']:g} ms)"
        ),
    )
    for row in _in_sections(table, result["rows"], ("backend", "clients")):
        met = ""
        if row["server"] == "ours" and row["clients"] == goal["clients"]:
            ok = row["rps"] >= goal["rps_at_least"] and row["p99_ms"] <= goal["p99_ms_at_most"]
            met = "met" if ok else "missed"
        table.add_row(
            row["backend"],
            str(row["clients"]),
            row["route"],
            row["server"],
            _cell(row["rps"]),
            _cell(row["p50_ms"], 2),
            _cell(row["p99_ms"], 2),
            str(row["failed"]),
            met,
        )
    tables = [table]
    move = result.get("alias_move")
    if move:
        moves = Table(
            "agents",
            "moves",
            "poll interval s",
            "p50 ms",
            "p99 ms",
            "max ms",
            title="alias move -> every agent started the load (long-poll)",
        )
        figures = move["all_agents_started_ms"]
        moves.add_row(
            str(move["agents"]),
            str(move["moves"]),
            _cell(move["poll_interval_s"]),
            _cell(figures["p50"]),
            _cell(figures["p99"]),
            _cell(figures["max"]),
        )
        tables.append(moves)
    return tables


def cluster_tables(result: dict[str, Any]) -> list[Table]:
    """Start, install, scale and memory of the real control plane."""
    start = result["start"]
    runs = ", ".join(_cell(r["readyz_seconds"], 2) for r in start["runs"])
    control = Table(
        "",
        "value",
        title="control plane (etcd, apiserver, controller manager, scheduler, KWOK) on 127.0.0.1",
    )
    control.add_row(
        "start → /readyz (s, median)", f"{_cell(start['readyz_seconds_median'], 2)} ({runs})"
    )
    control.add_row(
        "start → all components up (s, median)", _cell(start["all_up_seconds_median"], 2)
    )
    apply = result["apply"]
    if "rows" in apply:
        for row in apply["rows"]:
            label = f"apply {row['stack']} → all Available (s)"
            extra = (
                f" (after platform {row['platform_stack']}: "
                f"{_cell(row['platform_install_seconds'], 1)} s)"
                if row.get("platform_stack")
                else ""
            )
            value = (
                f"FAILED: {row['error'][:200]}"
                if "error" in row
                else f"{_cell(row['apply_to_available_seconds'], 1)} (apply "
                f"{_cell(row['apply_seconds'], 1)}; {row['rejections']} rejected, "
                f"{len(row['not_available'])} not Available){extra}"
            )
            control.add_row(label, value)
    else:
        shown = (
            f"not available: {apply['not_available']}"
            if "not_available" in apply
            else f"error: {apply.get('error')}"
        )
        control.add_row("apply each example stack → all Available", shown)
    variants = [
        (
            f"--kube-api-qps {row['spec']['scheduler_kube_api_qps']}"
            + (", held during creates" if row["spec"]["scheduler_held_during_creates"] else ""),
            row,
        )
        for key, _, _ in SCALE_ROWS
        if (row := result.get(key)) is not None
    ]
    spec = result["scale"]["spec"]
    scale = Table(
        "",
        *(name for name, _ in variants),
        title=(
            f"scale: {spec['gpu_nodes']} KWOK GPU nodes x {spec['gpu_pool']['gpus_per_node']} "
            f"GPUs + {spec['cpu_nodes']} CPU nodes, {spec['pods']} bare pods of {spec['teams']} "
            f"teams ({spec['gpu_share']:.0%} one-GPU pods)"
        ),
    )
    rows: list[tuple[str, Any]] = [
        (
            "nodes: created / Ready and untainted (s)",
            lambda r: (
                f"{_cell(r.get('nodes_created_seconds'), 1)} / {_cell(r['nodes_ready_seconds'], 1)}"
            ),
        ),
        (
            "client creates/s (p50 / p99 ms)",
            lambda r: (
                f"{_cell(r['client']['creates_per_second'])}"
                f" ({_cell(r['client']['latency_ms']['p50'])} / "
                f"{_cell(r['client']['latency_ms']['p99'])})"
            ),
        ),
        (
            "pods bound / created",
            lambda r: f"{r['scheduling']['pods_bound']} / {r['scheduling']['pods_created']}",
        ),
        (
            "first create → last bound (s)",
            lambda r: _cell(r["scheduling"]["first_create_to_last_bound_seconds"], 1),
        ),
        (
            "max pods waiting / last create → last bound (s)",
            lambda r: (
                f"{r['scheduling']['max_backlog_pods']} / "
                f"{_cell(r['scheduling']['last_create_to_last_bound_seconds'], 1)}"
            ),
        ),
        ("pods scheduled/s, overall", lambda r: _cell(r["scheduling"]["pods_per_second_overall"])),
        (
            "pods scheduled/s, steady (p10→p90)",
            lambda r: _cell(r["scheduling"]["pods_per_second_steady"]),
        ),
        (
            "pods scheduled/s after release (held)",
            lambda r: _cell(r["scheduling"].get("pods_per_second_after_release")),
        ),
        (
            "first create → all Running (s)",
            lambda r: _cell(r["scheduling"]["first_create_to_all_running_seconds"], 1),
        ),
        (
            "apiserver p99 / p50 (ms, no WATCH)",
            lambda r: (
                f"{_cell(r['apiserver_latency']['p99_ms'])}"
                f" / {_cell(r['apiserver_latency']['p50_ms'])}"
            ),
        ),
        ("apiserver requests in the run", lambda r: str(r["apiserver_latency"]["requests"])),
        (
            "misplaced / over GPU capacity",
            lambda r: (
                f"{r['placement']['misplaced']} / {r['placement']['nodes_over_gpu_capacity']}"
            ),
        ),
        ("machine CPU busy", lambda r: f"{r['limits']['machine_cpu_busy_share']:.0%}"),
        ("peak RSS, sum of VmHWM (MiB)", lambda r: _cell(r["peak_rss"]["sum_of_peaks_mib"])),
    ]
    for label, value in rows:
        scale.add_row(label, *(value(r) for _, r in variants))
    memory = Table("process", "peak RSS MiB (VmHWM)", title="control plane memory, scale run")
    for name, value in result["scale"]["peak_rss"]["by_process_mib"].items():
        memory.add_row(name, _cell(value))
    memory.add_row("sum", _cell(result["scale"]["peak_rss"]["sum_of_peaks_mib"]))
    memory.add_row(
        "peak of the summed VmRSS", _cell(result["scale"]["peak_rss"]["peak_of_sum_mib"])
    )
    return [control, scale, memory]


def _changes(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{op} {n}" for op, n in (counts or {}).items()) or "none"


def engine_tables(result: dict[str, Any]) -> list[Table]:
    """The engine's steps beside the direct installer, and the engine's memory."""
    engine, installer = result.get("engine", {}), result.get("installer", {})
    rows = {row["step"]: row for row in engine.get("steps", [])}
    peer: dict[str, Any] = next(
        (r for r in installer.get("rows", []) if r.get("stack") == TEAM), {}
    )
    if "error" in peer:
        beside = {"platform_up": f"FAILED: {peer['error'][:120]}"}
    elif peer:
        beside = {
            "platform_up": _cell(peer.get("platform_install_seconds"), 1),
            "team_up": (
                f"{_cell(peer.get('apply_to_available_seconds'), 1)} (apply "
                f"{_cell(peer.get('apply_seconds'), 1)}; {peer.get('rejections')} rejected, "
                f"{len(peer.get('not_available', []))} not Available)"
            ),
        }
    else:
        beside = {"platform_up": str(installer.get("not_available") or installer.get("error"))}
    versions = result["versions"]
    steps = Table(
        "step",
        "engine (s)",
        "resource changes",
        "peak RSS pulumi / provider (MiB)",
        "installer → all Available (s)",
        title=(
            f"pulumi {versions['pulumi']} + pulumi-resource-kubernetes "
            f"{versions['pulumi-resource-kubernetes']} (Automation API, inline program) vs "
            f"infra.controlplane.install, {PLATFORM} then {TEAM} on the control plane"
        ),
    )
    for key, label, _, _ in STEPS:
        row = rows.get(key)
        if row is None:
            cells = ["not run" if key in engine.get("not_run", []) else "-", "", ""]
        elif "error" in row:
            cells = [_cell(row["seconds"], 1), f"FAILED: {row['error'][:200]}", ""]
        else:
            by_process = row["peak_rss_by_process_mib"]
            cells = [
                _cell(row["seconds"], 1),
                _changes(row["resource_changes"]),
                f"{_cell(by_process.get('pulumi'))} / "
                f"{_cell(by_process.get('pulumi-resource-kubernetes'))}",
            ]
        steps.add_row(label, *cells, beside.get(key, "-"))
    if "error" in engine:
        steps.caption = f"engine FAILED: {engine['error'][:300]}"
    tables = [steps]
    if "peak_rss" in engine:
        peaks = engine["peak_rss"]
        memory = Table(
            "process",
            "peak RSS MiB",
            title=f"engine memory, whole run (sampled every {peaks['sample_interval_seconds']} s)",
        )
        for name, value in peaks["by_process_mib"].items():
            seen = peaks["processes_seen"].get(name, 0)
            memory.add_row(f"{name} (VmHWM, {seen} processes)", _cell(value))
        memory.add_row("peak of their summed VmRSS", _cell(peaks["peak_of_sum_mib"]))
        memory.add_row(
            "benchmark process, inline program included (VmHWM)",
            _cell(engine["benchmark_process_vmhwm_mib"]),
        )
        tables.append(memory)
    return tables


def _seconds_cells(figures: dict[str, Any]) -> list[str]:
    return [_cell(figures.get(key), 3) for key in ("p50", "p99", "mean", "max")] + [
        str(figures.get("count", 0))
    ]


def lifecycle_tables(result: dict[str, Any]) -> list[Table]:
    """Job ``Succeeded`` → version registered, and registration → every pod serving it."""
    tables = []
    registration = result.get("registration", {})
    if "burst" in registration or "one_at_a_time" in registration:
        lag = Table(
            "jobs submitted",
            "p50 s",
            "p99 s",
            "mean s",
            "max s",
            "jobs",
            "controller histogram p50 / p99 / mean s",
            "duplicate versions",
            title=(
                "PyTorchJob Succeeded (status write acknowledged) → version created_at, "
                "lifecycle controller on the control plane (no training operator: the benchmark "
                "writes the status)"
            ),
        )
        for way, label in (("one_at_a_time", "one at a time"), ("burst", "burst")):
            row = registration.get(way)
            if row is None:
                continue
            own = row["controller_histogram_seconds"]
            lag.add_row(
                label,
                *_seconds_cells(row["lag_seconds"]),
                f"{_cell(own.get('p50'), 2)} / {_cell(own.get('p99'), 2)} / "
                f"{_cell(own.get('mean'), 2)}",
                str(row["jobs_with_more_than_one_version"]),
            )
        tables.append(lag)
    promotion = result.get("promotion", {})
    if "rows" in promotion:
        serve = Table(
            "",
            "p50 s",
            "p99 s",
            "mean s",
            "max s",
            "promotions",
            title=(
                f"version registered → production on all {promotion['pods']} pods "
                f"(tritonserver + serving agent each, agent poll "
                f"{promotion['agent_poll_interval_seconds']} s)"
            ),
        )
        for key, label in (
            ("registered_to_agents_ready", "registered → every agent reports it READY"),
            ("registered_to_tritons_answer", "registered → every Triton answers with it"),
            ("moved_to_agents_ready", "alias moved → every agent reports it READY"),
            ("moved_to_tritons_answer", "alias moved → every Triton answers with it"),
        ):
            serve.add_row(label, *_seconds_cells(promotion[key]))
        tables.append(serve)
    return tables


def platform_program_table(rows: list[dict[str, Any]]) -> Table:
    """One platform stack + one team stack: evaluated under mocks, installed, ``pulumi up``
    (rows of ``benchmarks.stacks.platform_program_rows``)."""
    table = Table(
        "step",
        "platform + team stack",
        "import s",
        "platform s",
        "team s",
        "total s",
        "peak RSS MiB",
        "peak RSS of",
        title="platform program: one platform stack + one team stack",
        caption="under mocks: one fresh process, total = program import + both stacks; on the "
        "control plane: each stack from its first apply to all Available (our installer: "
        "infra.controlplane.install; engine: the Pulumi CLI and Kubernetes provider, whose "
        "VmHWMs are summed, the larger of the two steps)",
    )
    for row in rows:
        stacks = f"{row['platform_stack']} + {row['team_stack']}"
        if "error" in row:
            table.add_row(row["step"], stacks, f"FAILED: {row['error'][:200]}")
            continue
        checks = (
            f" ({row['rejections']} rejected, {row['not_available']} not Available)"
            if "rejections" in row
            else ""
        )
        table.add_row(
            row["step"],
            stacks,
            _cell(row.get("import_seconds"), 2),
            _cell(row["platform_seconds"], 2),
            _cell(row["team_seconds"], 2) + checks,
            _cell(row["total_seconds"], 2),
            _cell(row.get("peak_rss_mib")),
            row.get("peak_rss_of", ""),
        )
    return table


def _attempt(console: Console, call: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """Run one benchmark: ``(call(), False)``; ``({"skipped": why}, False)`` when it raises
    ``BenchmarkSkipped``; ``({**partial, "error": ...}, True)`` with the traceback printed when
    it raises anything else, ``partial`` being what it measured before (``BenchmarkFailed``,
    see ``benchmarks.support.keeping_partial``; nothing for other errors)."""
    try:
        return call(), False
    except BenchmarkSkipped as exc:
        return {"skipped": str(exc)}, False
    except Exception as exc:
        console.print(traceback.format_exc(), markup=False)
        partial: dict[str, Any] = {}
        error: BaseException = exc
        if isinstance(exc, BenchmarkFailed):
            partial = exc.partial
            error = exc.__cause__ or exc
        return {**partial, "error": f"{type(error).__name__}: {error}"}, True


def _show_error(console: Console, name: str, result: dict[str, Any]) -> None:
    """One line for a benchmark that failed after its partial tables were printed."""
    if "error" in result:
        console.print(
            f"[red]{name} benchmark failed: {result['error']} "
            "(the figures above were measured before; kept in results.json)[/red]",
            highlight=False,
        )


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; returns the exit status."""
    args = parse_args(argv)
    if _MISSING is not None:
        missing = str(_MISSING.name).partition(".")[0]
        print(
            f"benchmarks.run: module {missing!r} is not installed in this venv ({sys.prefix})"
            "; run the benchmarks with `make bench` (its own venv, .venv-bench)",
            file=sys.stderr,
        )
        return 2
    apply_quiet_env()
    # Piped output (make bench | tee) would otherwise be cut to 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 132)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    count = args.registrations or (100 if args.quick else 400)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
    }
    results["machine"]["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    failed = False

    def relay(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    previous = signal.signal(signal.SIGTERM, _sigterm)
    started = time.monotonic()
    try:
        if args.only in (None, "swap"):
            with console.status("swap benchmark: hot swap vs restart rollout at 4 and 16 clients"):
                results["swap"], broke = _attempt(
                    console,
                    lambda: run_swap_benchmark(
                        workdir=work / "swap",
                        requests=10_000 if args.quick else 100_000,
                        tail=1.5 if args.quick else 3.0,
                        large_bytes=(256 << 20) if args.quick else (1 << 30),
                    ),
                )
                failed = failed or broke
            if "runs" in results["swap"]:
                results["machine"]["versions"]["tritonserver"] = results["swap"]["runs"][0][
                    "hot_swap"
                ]["tritonserver_version"]
                console.print(swap_table(results["swap"]))
                if results["swap"]["large_model"]:
                    console.print(swap_large_table(results["swap"]))
            else:
                console.print(f"[yellow]swap benchmark: {results['swap']}[/yellow]")
        if args.only in (None, "registry"):
            status = console.status("registry benchmark")

            def progress(row: dict[str, Any]) -> None:
                console.print(
                    f"  {row['backend']:<10} {row['clients']:>2} clients  {row['server']:<28} "
                    f"{_cell(row['registrations_per_second']):>7} reg/s  "
                    f"p99 {_cell(row['latency_ms']['p99']):>8} ms  errors {row['errors']}",
                    highlight=False,
                )

            with status:
                results["registry"], broke = _attempt(
                    console,
                    lambda: run_registry_benchmark(
                        workdir=work / "registry",
                        count=count,
                        clients=CLIENTS,
                        budget=60.0 if args.quick else 120.0,
                        on_row=progress,
                    ),
                )
                failed = failed or broke
            if "rows" in results["registry"]:
                console.print(registry_table(results["registry"]))
                for skip in results["registry"]["skipped"]:
                    console.print(f"[yellow]skipped {skip['backend']}: {skip['reason']}[/yellow]")
            else:
                console.print(f"[yellow]registry benchmark: {results['registry']}[/yellow]")
        if args.only in (None, "readpath"):
            console.print("read path benchmark:")

            def readpath_progress(row: dict[str, Any]) -> None:
                console.print(
                    f"  {row['backend']:<10} {row['clients']:>2} clients  {row['route']:<12} "
                    f"{row['server']:<7} {_cell(row['rps']):>8} req/s  "
                    f"p99 {_cell(row['p99_ms'], 2):>8} ms  errors {row['failed']}",
                    highlight=False,
                )

            results["readpath"], broke = _attempt(
                console,
                lambda: run_readpath_benchmark(
                    workdir=work / "readpath",
                    seconds=2.0 if args.quick else 5.0,
                    moves=3 if args.quick else 10,
                    on_row=readpath_progress,
                ),
            )
            failed = failed or broke
            if "rows" in results["readpath"]:
                for table in readpath_tables(results["readpath"]):
                    console.print(table)
                for skip in results["readpath"]["skipped"]:
                    console.print(f"[yellow]skipped {skip['backend']}: {skip['reason']}[/yellow]")
                _show_error(console, "readpath", results["readpath"])
            else:
                console.print(f"[yellow]readpath benchmark: {results['readpath']}[/yellow]")
        if args.only in (None, "stacks"):

            def stacks_progress(row: dict[str, Any]) -> None:
                console.print(
                    f"  {row['variant']:<10} {row['platform_stack']} + {row['team_stacks']:>4} "
                    f"team stacks from {row['team_template']}  "
                    f"{_cell(row['evaluation_seconds'], 2):>7} s  "
                    f"{_cell(row['team_stack_ms']['mean']):>6} ms/team stack  "
                    f"peak RSS {_cell(row['process_peak_rss_mib']):>6} MiB"
                    + ("  (budget hit)" if row["truncated"] else ""),
                    highlight=False,
                )

            with console.status("stacks benchmark: 1 platform + N team stacks under mocks"):
                results["stacks"], broke = _attempt(
                    console,
                    lambda: run_stacks_benchmark(
                        workdir=work / "stacks",
                        sizes=QUICK_SIZES if args.quick else SIZES,
                        budget=QUICK_BUDGET if args.quick else BUDGET,
                        on_row=stacks_progress,
                        program_pair=(PLATFORM, TEAM),
                    ),
                )
                failed = failed or broke
            if "variants" in results["stacks"]:
                for table in stacks_tables(results["stacks"]):
                    console.print(table)
                if results["stacks"]["any_truncated"]:
                    console.print(
                        "[yellow]stacks: a size hit its time budget; its row counts only the "
                        "team stacks evaluated[/yellow]"
                    )
            else:
                console.print(f"[yellow]stacks benchmark: {results['stacks']}[/yellow]")
        if args.only in (None, "cluster"):
            console.print("cluster benchmark (loopback-only network namespace):")
            results["cluster"], broke = _attempt(
                console,
                lambda: run_cluster_benchmark(
                    workdir=work / "cluster", quick=args.quick, on_line=relay
                ),
            )
            failed = failed or broke
            if "scale" in results["cluster"]:
                for table in cluster_tables(results["cluster"]):
                    console.print(table)
                for key, _, _ in SCALE_ROWS:
                    if key in results["cluster"]:
                        reading = results["cluster"][key]["limits"]["reading"]
                        console.print(f"{key}: limited by {reading}", highlight=False)
            else:
                console.print(f"[yellow]cluster benchmark: {results['cluster']}[/yellow]")
        if args.only in (None, "lifecycle"):
            console.print("lifecycle benchmark:")
            results["lifecycle"], broke = _attempt(
                console,
                lambda: run_lifecycle_benchmark(
                    workdir=work / "lifecycle", quick=args.quick, on_line=relay
                ),
            )
            failed = failed or broke
            for table in lifecycle_tables(results["lifecycle"]):
                console.print(table)
            for key in ("registration", "promotion"):
                if key not in results["lifecycle"] or "skipped" in results["lifecycle"][key]:
                    shown = results["lifecycle"].get(key, results["lifecycle"])
                    console.print(f"[yellow]lifecycle {key}: {shown}[/yellow]")
        if args.only in (None, "engine"):
            console.print("engine benchmark (loopback-only network namespace):")
            results["engine"], broke = _attempt(
                console, lambda: run_engine_benchmark(workdir=work / "engine", on_line=relay)
            )
            failed = failed or broke
            if "versions" in results["engine"]:
                for table in engine_tables(results["engine"]):
                    console.print(table)
            else:
                console.print(f"[yellow]engine benchmark: {results['engine']}[/yellow]")
        program = platform_program_rows(results, PLATFORM, TEAM)
        if program:
            results["platform_program"] = program
            console.print(platform_program_table(program))
    except KeyboardInterrupt:
        console.print("[red]interrupted: every process started was stopped[/red]")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        results["duration_seconds"] = round(time.monotonic() - started, 1)
        results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        path = out / "results.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
    machine = results["machine"]
    console.print(
        f"{machine['cores']} cores, load average (1/5/15 min) at start "
        f"{machine['load_average_at_start']}, at end {machine['load_average_at_end']}; "
        f"results: {path} ({results['duration_seconds']:.0f} s)",
        highlight=False,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
