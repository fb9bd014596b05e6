"""Evaluation time and peak memory of the Pulumi program under mocks: one platform stack plus
N team stacks (N = 1, 10, 100, 500; ``--quick``: 1, 5, 20, 50), and how both grow with N.

For each N a FRESH Python process (``python -m benchmarks.stacks --child N ...``, so its peak
memory is its own) does what a platform team's ``pulumi up`` of every stack would make the
program do, without the engine:

1. import the program (``infra.program``, ``pulumi``, ``pulumi_kubernetes``, the provider SDK);
2. evaluate the platform stack ``stacks/Pulumi.prod-ack.yaml`` once;
3. evaluate N team stacks generated from ``stacks/Pulumi.team-cv-prod.yaml``: team
   ``team-0000``, ``team-0001``, ... with distinct dataset and inference-service names
   (``imagenet-1k-0000``, ``resnet50-0000``, ...), all on the same platform stack. Each team stack
   is its own Pulumi program run under fresh mocks (``infra.mocks.record_program``, as the
   offline render does): its config is validated (``split_keys`` + ``parse_config``), then
   ``infra.program.run(config, secrets=<placeholders>, platform=<outputs>)`` declares it, with
   the platform outputs computed from the platform stack's config (``platform_outputs``), as
   ``kubeai render`` does.

The N team stacks are evaluated one after the other in that one process, each size in its own
fresh child, with ``record_program`` exactly as the render and the test suite call it (a fresh
Pulumi root stack per program, as in one ``pulumi up`` process per stack; the program's import,
the fixed cost of each such process, is reported separately; interpreter start not included).
An earlier run of this benchmark found the root stack carried over between programs (program k
ran every resource through k transformations); ``record_program`` now resets it.

Measured per N: seconds for the platform stack and for the N team stacks (sum of the per-stack
times; mean, p50, p90 and max per team stack; mean of the first and the last tenth), resources
declared (components included), peak RSS of the child (``VmHWM`` read by the child; ``wait4``'s
``ru_maxrss`` is kept as a cross-check only, since a forked child inherits the parent's),
RSS after the imports and after the platform stack,
RSS and live Python objects (counted after a full ``gc.collect()``, outside the timed
sections) at every tenth of the team stacks. Growth between sizes: time ratio
against the stack ratio, per-stack time, and RSS growth in MiB per 100 team stacks.
``tracemalloc`` is not used: it makes this workload about 5x slower.

Bounded: each child stops starting team stacks after ``budget`` seconds (the row then says how
many it evaluated and is marked truncated) and is killed (its whole session) after
``budget + HARD_MARGIN`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.util
import itertools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = ROOT / "stacks"
PLATFORM_STACK = "prod-ack"
TEAM_TEMPLATE = "team-cv-prod"
#: Team stacks per size; 1 is the platform program's own row (one platform + one team stack).
SIZES = (1, 10, 100, 500)
QUICK_SIZES = (1, 5, 20, 50)
#: Seconds after which a child starts no further team stack (full run / ``--quick``).
BUDGET = 600.0
QUICK_BUDGET = 120.0
#: Seconds past the budget after which the child's session is killed.
HARD_MARGIN = 120.0
#: Checkpoints (RSS, live objects) per child: after every tenth of the team stacks.
CHECKPOINTS = 10
#: The two ways of running the N team stacks in one process (see the module docstring).
VARIANTS: dict[str, str] = {
    "as_is": (
        "record_program as the render and the tests call it: every program under fresh mocks "
        "and a fresh root stack, as in one `pulumi up` process per stack"
    ),
}


def _mib(value: float) -> float:
    return round(value / (1 << 20), 1)


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``); 0 when unavailable."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def _rss_mib() -> float:
    return _mib(_status_kib("VmRSS") * 1024)


def _checkpoint(team_stacks: int) -> dict[str, Any]:
    """RSS now, then the live Python objects after a full collection (what stays reachable)."""
    rss = _rss_mib()
    gc.collect()
    return {"team_stacks": team_stacks, "rss_mib": rss, "live_objects": len(gc.get_objects())}


# ---------------------------------------------------------------------------------------------
# team stacks


def team_stack_name(index: int) -> str:
    """Name of the generated team stack ``index`` (``team-0000-prod``)."""
    return f"team-{index:04d}-prod"


def team_raw(template: dict[str, Any], index: int) -> dict[str, Any]:
    """The template's ``config:`` mapping for team ``index``: distinct team, dataset and
    inference-service names (``team-0000``, ``imagenet-1k-0000``, ``resnet50-0000``), same
    platform stack, everything else as in the template."""
    raw = copy.deepcopy(template)
    suffix = f"{index:04d}"
    raw["kubeai:team"]["name"] = f"team-{suffix}"
    for item in raw.get("kubeai:datasets") or []:
        item["name"] = f"{item['name']}-{suffix}"
    for item in raw.get("kubeai:inferenceServices") or []:
        item["name"] = f"{item['name']}-{suffix}"
    return raw


def plain_config(raw: dict[str, Any]) -> dict[str, str]:
    """Pulumi runtime config of a stack file's mapping (objects as JSON), secrets left out,
    as the offline render passes it."""
    return {
        k: v if isinstance(v, str) else json.dumps(v)
        for k, v in raw.items()
        if not (isinstance(v, dict) and "secure" in v)
    }


# ---------------------------------------------------------------------------------------------
# child: one size


def _summary_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "mean": round(1000 * statistics.fmean(values), 2),
        "p50": round(1000 * statistics.median(values), 2),
        "p90": round(1000 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "max": round(1000 * ordered[-1], 2),
    }


def evaluate(
    count: int,
    *,
    budget: float,
    fresh_root: bool = False,
    platform_stack: str = PLATFORM_STACK,
    team_template: str = TEAM_TEMPLATE,
) -> dict[str, Any]:
    """In this process: import the program, evaluate ``platform_stack`` once, then ``count``
    team stacks from ``team_template`` (which must run on ``platform_stack``); stops starting
    team stacks after ``budget`` seconds. Returns the measurements.

    ``fresh_root``: call ``pulumi.runtime.reset_options()`` before each team stack's program, so
    no root Stack resource (nor its stack transformations) carries over from the previous one.

    Raises whatever the program raises (a ``ConfigError`` for a generated stack is a bug here).
    """
    started = time.perf_counter()
    import importlib.metadata

    import pulumi

    from infra import program
    from infra.config import (
        SECRET_KEYS,
        PlatformConfig,
        TeamConfig,
        parse_config,
        platform_outputs,
        split_keys,
    )
    from infra.mocks import record_program
    from infra.render import load_stack

    import_seconds = time.perf_counter() - started
    rss_after_import = _rss_mib()

    def declare(config: Any, platform: Any) -> Callable[[], None]:
        def run() -> None:
            secrets = {key: pulumi.Output.secret(f"<secret:{key}>") for key in sorted(SECRET_KEYS)}
            program.run(config, secrets=secrets, platform=platform)

        return run

    # The platform stack, once.
    t0 = time.perf_counter()
    platform_config, _, platform_raw = load_stack(platform_stack, STACKS_DIR)
    if not isinstance(platform_config, PlatformConfig):
        raise RuntimeError(f"stack {platform_stack!r} is not a platform stack")
    declared, _ = record_program(
        declare(platform_config, None), stack=platform_stack, config=plain_config(platform_raw)
    )
    platform_seconds = time.perf_counter() - t0
    platform_resources = len(declared)
    del declared
    outputs = platform_outputs(platform_config)
    template_config, _, template = load_stack(team_template, STACKS_DIR)
    if not isinstance(template_config, TeamConfig):
        raise RuntimeError(f"stack {team_template!r} is not a team stack")
    if template_config.platform_stack.rsplit("/", 1)[-1] != platform_stack:
        raise RuntimeError(f"{team_template!r} does not run on {platform_stack!r}")
    gc.collect()
    rss_after_platform = _rss_mib()

    # The team stacks, one Pulumi program each.
    every = max(1, count // CHECKPOINTS)
    checkpoints = [_checkpoint(0)]
    times: list[float] = []
    parse_seconds = 0.0
    resources_per_team: dict[int, int] = {}
    resources_total = 0
    names: set[str] = set()
    deadline = started + budget
    truncated = False
    for index in range(count):
        if time.perf_counter() > deadline:
            truncated = True
            break
        raw = team_raw(template, index)
        t0 = time.perf_counter()
        if fresh_root:
            pulumi.runtime.reset_options()
        values, _ = split_keys(raw)
        config = parse_config(values)
        if not isinstance(config, TeamConfig):
            raise RuntimeError(f"generated stack {team_stack_name(index)} is not a team stack")
        t1 = time.perf_counter()
        declared, _ = record_program(
            declare(config, outputs), stack=team_stack_name(index), config=plain_config(raw)
        )
        t2 = time.perf_counter()
        times.append(t2 - t0)
        parse_seconds += t1 - t0
        resources_per_team[len(declared)] = resources_per_team.get(len(declared), 0) + 1
        resources_total += len(declared)
        names.add(config.team.name)
        del declared
        if (index + 1) % every == 0 or index + 1 == count:
            checkpoints.append(_checkpoint(index + 1))
    done = len(times)
    if checkpoints[-1]["team_stacks"] != done:
        checkpoints.append(_checkpoint(done))
    tenth = max(1, done // 10)
    teams_seconds = sum(times)
    root = pulumi.runtime.get_root_resource()
    return {
        "variant": "fresh_root" if fresh_root else "as_is",
        "platform_stack": platform_stack,
        "team_template": team_template,
        "team_stacks_requested": count,
        "team_stacks": done,
        "distinct_team_names": len(names),
        "truncated": truncated,
        "budget_seconds": budget,
        "import_seconds": round(import_seconds, 3),
        "platform_seconds": round(platform_seconds, 3),
        "platform_resources": platform_resources,
        "teams_seconds": round(teams_seconds, 3),
        "teams_config_validation_seconds": round(parse_seconds, 3),
        "evaluation_seconds": round(platform_seconds + teams_seconds, 3),
        "seconds_per_team_stack": round(teams_seconds / done, 4) if done else None,
        "team_stack_ms": _summary_ms(times),
        "team_stack_ms_first_tenth_mean": round(1000 * statistics.fmean(times[:tenth]), 2)
        if done
        else None,
        "team_stack_ms_last_tenth_mean": round(1000 * statistics.fmean(times[-tenth:]), 2)
        if done
        else None,
        "resources_per_team_stack": {str(k): v for k, v in sorted(resources_per_team.items())},
        "team_resources": resources_total,
        "resources_total": platform_resources + resources_total,
        "rss_after_import_mib": rss_after_import,
        "rss_after_platform_mib": rss_after_platform,
        "rss_end_mib": _rss_mib(),
        "peak_rss_mib": _mib(_status_kib("VmHWM") * 1024),
        "ru_maxrss_self_mib": _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
        "checkpoints": checkpoints,
        "root_stack_transformations_at_end": len(getattr(root, "_transformations", None) or []),
        "live_objects_kept_per_team_stack": round(
            (checkpoints[-1]["live_objects"] - checkpoints[0]["live_objects"]) / done
        )
        if done
        else None,
        "versions": {
            "pulumi": importlib.metadata.version("pulumi"),
            "pulumi-kubernetes": importlib.metadata.version("pulumi-kubernetes"),
        },
    }


def _child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stacks", description=__doc__)
    parser.add_argument("--child", type=int, required=True, help="team stacks to evaluate")
    parser.add_argument("--budget", type=float, default=BUDGET, help="seconds (soft)")
    parser.add_argument("--fresh-root", action="store_true", help="reset_options() per stack")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--platform-stack", default=PLATFORM_STACK, help="platform stack name")
    parser.add_argument("--team-template", default=TEAM_TEMPLATE, help="team stack to copy")
    args = parser.parse_args(argv)
    result = evaluate(
        args.child,
        budget=args.budget,
        fresh_root=args.fresh_root,
        platform_stack=args.platform_stack,
        team_template=args.team_template,
    )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# parent: every size, growth


def _run_child(
    count: int,
    *,
    workdir: Path,
    budget: float,
    variant: str,
    pair: tuple[str, str] = (PLATFORM_STACK, TEAM_TEMPLATE),
) -> dict[str, Any]:
    """One fresh child process for ``count`` team stacks copied from ``pair`` (platform stack,
    team stack); its measurements plus the parent's view of it (wall time, ``ru_maxrss`` and CPU
    time from ``wait4``)."""
    name = f"{variant}-n{count}" + (
        "" if pair == (PLATFORM_STACK, TEAM_TEMPLATE) else f"-{pair[1]}"
    )
    out = workdir / f"{name}.json"
    log = workdir / f"{name}.log"
    out.unlink(missing_ok=True)
    hard = budget + HARD_MARGIN
    started = time.monotonic()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.stacks",
                "--child",
                str(count),
                "--budget",
                str(budget),
                "--out",
                str(out),
                *(["--fresh-root"] if variant == "fresh_root" else []),
                "--platform-stack",
                pair[0],
                "--team-template",
                pair[1],
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        killed = False
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - started > hard and not killed:
                    killed = True
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                time.sleep(0.05)
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.wait4(process.pid, 0)
            process.returncode = -9
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # nothing should be left of its session
    if killed:
        raise RuntimeError(
            f"{variant}, {count} team stacks: child killed after the hard timeout of "
            f"{hard:.0f} s; log {log}"
        )
    if process.returncode != 0 or not out.is_file():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"{variant}, {count} team stacks: child exited with {process.returncode}; "
            f"log {log}:\n{tail}"
        )
    result = json.loads(out.read_text())
    result["process_wall_seconds"] = round(wall, 2)
    result["process_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    # The child's own high-water mark (VmHWM, read in the child after exec) is the peak: wait4's
    # ru_maxrss of a forked child starts from the parent's size at fork time, so a parent that
    # already ran bigger benchmarks would report its own size. Kept in the JSON as a cross-check.
    result["wait4_maxrss_mib"] = _mib(usage.ru_maxrss * 1024)  # KiB on Linux
    result["process_peak_rss_mib"] = result["peak_rss_mib"]
    return result


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Between consecutive sizes: stack ratio, time ratio, per-stack time before/after and the
    RSS growth per 100 team stacks (peak RSS difference / team stacks added x 100)."""
    out: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(rows):
        added = b["team_stacks"] - a["team_stacks"]
        out.append(
            {
                "from": a["team_stacks"],
                "to": b["team_stacks"],
                "stacks_ratio": round(b["team_stacks"] / a["team_stacks"], 2),
                "teams_time_ratio": round(b["teams_seconds"] / a["teams_seconds"], 2),
                "evaluation_time_ratio": round(
                    b["evaluation_seconds"] / a["evaluation_seconds"], 2
                ),
                "ms_per_team_stack_from": a["team_stack_ms"]["mean"],
                "ms_per_team_stack_to": b["team_stack_ms"]["mean"],
                "peak_rss_mib_from": a["process_peak_rss_mib"],
                "peak_rss_mib_to": b["process_peak_rss_mib"],
                "rss_mib_per_100_team_stacks": round(
                    (b["process_peak_rss_mib"] - a["process_peak_rss_mib"]) / added * 100, 1
                )
                if added
                else None,
            }
        )
    return out


def within_run_rss_slope(row: dict[str, Any]) -> float | None:
    """RSS growth inside one child, MiB per 100 team stacks: from after the platform stack to
    after the last team stack (one process, no differences between processes)."""
    done = row["team_stacks"]
    if not done:
        return None
    first, last = row["checkpoints"][0], row["checkpoints"][-1]
    return round((last["rss_mib"] - first["rss_mib"]) / done * 100, 1)


#: Modules the program needs for these stacks (prod-ack: Alibaba Cloud node pools).
REQUIRED_MODULES = ("pulumi", "pulumi_kubernetes", "pulumi_alicloud", "pydantic", "jsonschema")


def missing() -> list[str]:
    """Modules of ``REQUIRED_MODULES`` this interpreter cannot import."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def run_stacks_benchmark(
    *,
    workdir: Path,
    sizes: tuple[int, ...] = SIZES,
    budget: float = BUDGET,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    program_pair: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Every size in its own fresh child process, smallest first; rows and growth figures.

    Both ``VARIANTS`` are measured, each size of each in its own child. ``on_row`` is called
    with each row as it finishes. ``program_pair`` (platform stack, team stack), when given and
    not ``(PLATFORM_STACK, TEAM_TEMPLATE)``, is evaluated once more as one platform + one team
    stack in its own child (the stacks the control-plane benchmarks apply; its row is under
    ``platform_program``, see ``platform_program_rows``). Raises ``BenchmarkSkipped`` when this
    interpreter lacks the program's dependencies, ``RuntimeError`` when a child fails or hits the
    hard timeout.
    """
    missing_modules = missing()
    if missing_modules:
        # Imported here: the child processes do not need (nor pay the memory of) the glue imports.
        from benchmarks.support import BenchmarkSkipped

        raise BenchmarkSkipped(
            f"{sys.executable} lacks {', '.join(missing_modules)}: the Pulumi program's "
            'dependencies are the "infra" and "alicloud" extras '
            '(pip install -e ".[infra,alicloud]")'
        )
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    variants: list[dict[str, Any]] = []
    for variant, description in VARIANTS.items():
        rows: list[dict[str, Any]] = []
        for count in sorted(sizes):
            row = _run_child(count, workdir=workdir, budget=budget, variant=variant)
            row["rss_mib_per_100_team_stacks_within_run"] = within_run_rss_slope(row)
            rows.append(row)
            if on_row is not None:
                on_row(row)
        variants.append(
            {"name": variant, "description": description, "rows": rows, "growth": growth(rows)}
        )
    program_rows: list[dict[str, Any]] = []
    if program_pair is not None and program_pair != (PLATFORM_STACK, TEAM_TEMPLATE):
        row = _run_child(1, workdir=workdir, budget=budget, variant="as_is", pair=program_pair)
        program_rows.append(row)
        if on_row is not None:
            on_row(row)
    return {
        "platform_program": program_rows,
        "platform_stack": PLATFORM_STACK,
        "team_template": TEAM_TEMPLATE,
        "method": (
            "one fresh process per size: import the program, evaluate the platform stack once, "
            "then N generated team stacks one after the other, each validated and run as its own "
            "Pulumi program under fresh mocks (infra.mocks.record_program) through "
            "infra.program.run with platform outputs computed from the platform config and "
            "placeholder secrets"
        ),
        "sizes": sorted(sizes),
        "budget_seconds_per_size": budget,
        "hard_timeout_seconds_per_size": budget + HARD_MARGIN,
        "tracemalloc": "not used: about 5x slower on this workload",
        "variants": variants,
        "any_truncated": any(r["truncated"] for v in variants for r in v["rows"]),
        "duration_seconds": round(time.monotonic() - started, 1),
    }


# ---------------------------------------------------------------------------------------------
# the platform program: one platform stack + one team stack, evaluated, applied, `pulumi up`


def _mocks_row(row: dict[str, Any]) -> dict[str, Any]:
    """A platform-program row from a size-1 child of this benchmark."""
    platform, teams = row["platform_seconds"], row["teams_seconds"]
    return {
        "step": "evaluate under mocks",
        "platform_stack": row.get("platform_stack", PLATFORM_STACK),
        "team_stack": row.get("team_template", TEAM_TEMPLATE),
        "import_seconds": row["import_seconds"],
        "platform_seconds": platform,
        "team_seconds": teams,
        "total_seconds": round(row["import_seconds"] + platform + teams, 2),
        "process_wall_seconds": row.get("process_wall_seconds"),
        "peak_rss_mib": row["process_peak_rss_mib"],
        "peak_rss_of": "the process (VmHWM)",
        "resources": row["resources_total"],
        "source": "stacks",
    }


def _installer_row(found: tuple[str, dict[str, Any]], platform: str) -> dict[str, Any]:
    """A platform-program row from ``benchmarks.cluster.measure_apply``'s row of a team stack."""
    source, row = found
    out: dict[str, Any] = {
        "step": "apply → all Available (our installer)",
        "platform_stack": row.get("platform_stack") or platform,
        "team_stack": row["stack"],
        "source": source,
    }
    if "error" in row:
        return {**out, "error": row["error"]}
    platform_seconds, team_seconds = (
        row["platform_install_seconds"],
        row["apply_to_available_seconds"],
    )
    return {
        **out,
        "platform_seconds": platform_seconds,
        "team_seconds": team_seconds,
        "total_seconds": round(platform_seconds + team_seconds, 2),
        "peak_rss_mib": (row.get("peak_rss") or {}).get("sum_of_peaks_mib"),
        "peak_rss_of": "control plane (VmHWM sum)",
        "rejections": row["rejections"],
        "not_available": len(row["not_available"]),
    }


def _engine_row(engine: dict[str, Any], platform: str, team: str) -> dict[str, Any] | None:
    """A platform-program row from ``benchmarks.engine``'s ``up`` steps of both stacks."""
    steps = {row["step"]: row for row in engine.get("steps", [])}
    if "platform_up" not in steps:
        return None
    out: dict[str, Any] = {
        "step": "pulumi up → all Available (engine)",
        "platform_stack": platform,
        "team_stack": team,
        "source": "engine",
    }
    ups = [steps.get("platform_up"), steps.get("team_up")]
    failed = [r for r in ups if r is not None and "error" in r]
    if failed or ups[1] is None:
        return {**out, "error": failed[0]["error"] if failed else "the team stack's up did not run"}
    platform_seconds, team_seconds = (r["seconds"] for r in ups if r is not None)
    peaks = [
        sum(v for v in r["peak_rss_by_process_mib"].values() if v is not None)
        for r in ups
        if r is not None
    ]
    return {
        **out,
        "platform_seconds": platform_seconds,
        "team_seconds": team_seconds,
        "total_seconds": round(platform_seconds + team_seconds, 2),
        "peak_rss_mib": round(max(peaks), 1),
        "peak_rss_of": "pulumi + provider (VmHWM sum)",
    }


def platform_program_rows(
    results: dict[str, Any], platform: str, team: str
) -> list[dict[str, Any]]:
    """One platform stack plus one team stack, from whatever ran in this run of
    ``benchmarks.run`` (``results`` keyed by benchmark): evaluated under mocks (this module's
    size-1 rows: ``PLATFORM_STACK`` + ``TEAM_TEMPLATE``, and ``platform`` + ``team``), installed
    to all Available on the control plane by our installer (the engine benchmark's side-by-side
    run, else the cluster benchmark's apply row of ``team``), and ``pulumi up`` of both by the
    engine. Each row: step, stacks, platform/team/total seconds, peak RSS (MiB) and what it is
    of, or ``error``. Benchmarks that did not run (or were skipped) give no row."""
    rows: list[dict[str, Any]] = []
    stacks = results.get("stacks") or {}
    as_is = next((v for v in stacks.get("variants", []) if v["name"] == "as_is"), None)
    for row in (as_is or {}).get("rows", []):
        if row["team_stacks"] == 1:
            rows.append(_mocks_row(row))
    rows += [_mocks_row(row) for row in stacks.get("platform_program", [])]
    candidates = [
        ("engine", (results.get("engine") or {}).get("installer") or {}),
        ("cluster", (results.get("cluster") or {}).get("apply") or {}),
    ]
    found = next(
        (
            (source, row)
            for source, apply in candidates
            for row in apply.get("rows", [])
            if row.get("stack") == team
        ),
        None,
    )
    if found is not None:
        rows.append(_installer_row(found, platform))
    engine = (results.get("engine") or {}).get("engine") or {}
    engine_row = _engine_row(engine, platform, team)
    if engine_row is not None:
        rows.append(engine_row)
    return rows


# ---------------------------------------------------------------------------------------------
# tables


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _span(rows: list[dict[str, Any]], key: str, digits: int) -> str:
    values = [r[key] for r in rows]
    low, high = _cell(min(values), digits), _cell(max(values), digits)
    return low if low == high else f"{low}-{high}"


def stacks_tables(result: dict[str, Any]) -> list[Any]:
    """Rich tables: per variant one row per size, then the growth between sizes."""
    from rich.table import Column, Table

    tables: list[Any] = []
    growth_table = Table(
        "run",
        "sizes",
        "stacks x",
        "team time x",
        "ms / team stack",
        "peak RSS MiB",
        "RSS MiB / 100 stacks (within run)",
        "objects kept / stack",
        title=(
            "growth between sizes (RSS per 100: peak difference between the two processes; "
            "within the larger run: after the platform stack → end)"
        ),
    )
    for variant in result["variants"]:
        sizes = Table(
            "team stacks",
            "platform s",
            "teams s",
            "total s",
            "ms / team",
            "p50 / p90 ms",
            "first → last 10% ms",
            Column("resources", min_width=9),
            "peak RSS MiB",
            "wall s",
            title=(
                f"{variant['name']}: platform stack {result['platform_stack']} + N team stacks "
                f"from {result['team_template']} under mocks, one fresh process per N"
            ),
            caption=f"{variant['description']}. Before the team stacks: "
            f"import {_span(variant['rows'], 'import_seconds', 2)} s, RSS after the platform "
            f"stack {_span(variant['rows'], 'rss_after_platform_mib', 1)} MiB",
        )
        for row in variant["rows"]:
            ms = row["team_stack_ms"]
            stacks = str(row["team_stacks"])
            if row["truncated"]:
                stacks += f" of {row['team_stacks_requested']} (budget hit)"
            sizes.add_row(
                stacks,
                _cell(row["platform_seconds"], 2),
                _cell(row["teams_seconds"], 2),
                _cell(row["evaluation_seconds"], 2),
                _cell(ms["mean"]),
                f"{_cell(ms['p50'], 0)} / {_cell(ms['p90'], 0)}",
                f"{_cell(row['team_stack_ms_first_tenth_mean'], 0)} → "
                f"{_cell(row['team_stack_ms_last_tenth_mean'], 0)}",
                str(row["resources_total"]),
                _cell(row["process_peak_rss_mib"]),
                _cell(row["process_wall_seconds"]),
            )
        tables.append(sizes)
        by_size = {r["team_stacks"]: r for r in variant["rows"]}
        for step in variant["growth"]:
            inside = by_size[step["to"]]["rss_mib_per_100_team_stacks_within_run"]
            growth_table.add_row(
                variant["name"],
                f"{step['from']} → {step['to']}",
                _cell(step["stacks_ratio"], 1),
                _cell(step["teams_time_ratio"], 2),
                f"{_cell(step['ms_per_team_stack_from'])} → {_cell(step['ms_per_team_stack_to'])}",
                f"{_cell(step['peak_rss_mib_from'])} → {_cell(step['peak_rss_mib_to'])}",
                f"{_cell(step['rss_mib_per_100_team_stacks'])} ({_cell(inside)})",
                _cell(by_size[step["to"]]["live_objects_kept_per_team_stack"]),
            )
        growth_table.add_section()
    tables.append(growth_table)
    return tables


if __name__ == "__main__":
    sys.exit(_child_main())
