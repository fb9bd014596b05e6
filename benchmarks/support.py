"""Shared pieces of the benchmarks: environment, RSS sampling and a description of the machine.

Processes are started and stopped with ``glue.demo.processes`` (as the demo does), PostgreSQL
with ``tests.support.postgres.PostgresServer`` (as the tests do). Everything started listens on
127.0.0.1 only and is stopped again by its owner.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.support.postgres import postgres_bindir

ROOT = Path(__file__).resolve().parents[1]
#: Where results and the work directories of one run go (ignored by git: ``.kubeai/``).
OUT_DIR = ROOT / ".kubeai" / "bench"

#: Environment for every child process: no cloud metadata probes, no telemetry, no proxies.
QUIET_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def apply_quiet_env() -> None:
    """Put ``QUIET_ENV`` into this process's environment (children inherit it)."""
    os.environ.update(QUIET_ENV)


class BenchmarkSkipped(RuntimeError):  # noqa: N818 - reads as a state in `except` clauses
    """A benchmark (or part of it) cannot run on this machine; the message says why."""


class BenchmarkFailed(RuntimeError):  # noqa: N818 - pairs with BenchmarkSkipped
    """A benchmark failed after measuring part of its result.

    ``partial`` is its result as far as it got (the same keys as a whole result, figures not
    yet measured absent); the failure itself is ``__cause__``. Raised by ``keeping_partial``;
    ``benchmarks.run`` records ``partial`` with an ``error`` key beside it.
    """

    def __init__(self, partial: dict[str, Any]) -> None:
        super().__init__("benchmark failed after measuring part of its result")
        self.partial = partial


@contextlib.contextmanager
def keeping_partial(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield ``result`` for a benchmark to fill as it measures; when the block raises, raise
    ``BenchmarkFailed(result)`` from that error so what was measured is kept beside the error.

    ``BenchmarkSkipped``, ``BenchmarkFailed`` and ``KeyboardInterrupt`` pass unchanged.
    """
    try:
        yield result
    except (BenchmarkSkipped, BenchmarkFailed):
        raise
    except Exception as exc:
        raise BenchmarkFailed(result) from exc


# ---------------------------------------------------------------------------------------------
# a benchmark in a loopback-only network namespace


def run_in_namespace(
    module: str, args: list[str], out: Path, on_line: Callable[[str], None]
) -> dict[str, Any]:
    """Run ``python -m <module> --in-namespace <args>`` in a fresh loopback-only network
    namespace (``infra.controlplane.netns.unshare_command``), relaying its output lines to
    ``on_line``; returns the JSON object the child wrote to ``out``.

    On Ctrl-C or SIGTERM here the child gets SIGTERM (a ``ControlPlane`` stops every process it
    started on it), then its process group SIGKILL. Raises ``BenchmarkSkipped`` when no such
    namespace can be made, ``RuntimeError`` with the last output lines when the child fails.
    """
    from infra.controlplane.netns import unshare_command, unshare_problem

    problem = unshare_problem()
    if problem:
        raise BenchmarkSkipped(f"no loopback-only network namespace: {problem}")
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", module, IN_NAMESPACE_FLAG, *args, "--out", str(out)]
    process = subprocess.Popen(
        unshare_command(argv),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    tail: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            on_line(line.rstrip())
            tail = [*tail[-40:], line.rstrip()]
        process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    if process.returncode != 0 or not out.is_file():
        shown = "\n".join(tail)
        raise RuntimeError(f"{module} exited with {process.returncode}:\n{shown}")
    return dict(json.loads(out.read_text()))


IN_NAMESPACE_FLAG = "--in-namespace"


def namespace_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Add ``--workdir`` (default ``.kubeai/bench/work/<name>``), ``--out`` and the hidden
    ``--in-namespace`` flag of a benchmark run by ``namespace_main``."""
    parser.add_argument("--workdir", type=Path, default=OUT_DIR / "work" / name)
    parser.add_argument("--out", type=Path, help="JSON file to write (default: stdout)")
    parser.add_argument(IN_NAMESPACE_FLAG, action="store_true", help=argparse.SUPPRESS)


def namespace_main(
    args: argparse.Namespace,
    outside: Callable[[], dict[str, Any]],
    inside: Callable[[], dict[str, Any]],
) -> int:
    """The ``main`` of a benchmark that runs in a loopback-only network namespace: without
    ``--in-namespace``, ``outside()`` (which re-executes the module there through
    ``run_in_namespace``) and its result to ``args.out`` or stdout; with it, ``inside()`` once the
    namespace is checked (SIGTERM then exits, so a ``ControlPlane`` stops its processes), its
    result to ``args.out``. Returns the exit status: 0, or 2 (the reason on stderr) when it
    refuses to run.
    """
    from infra.controlplane.netns import loopback_only_problem

    if not args.in_namespace:
        try:
            result = outside()
        except BenchmarkSkipped as exc:
            print(f"refusing to run: {exc}", file=sys.stderr)
            return 2
        text = json.dumps(result, indent=2) + "\n"
        if args.out:
            args.out.write_text(text)
        else:
            print(text)
        return 0
    problem = loopback_only_problem()
    if problem:
        print(f"refusing to run: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    result = inside()
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# memory


class RssSampler:
    """Samples ``measure()`` (bytes) every ``interval`` s in a background thread.

    ``samples`` holds ``(monotonic seconds, bytes)``; ``peak(since, until)`` and
    ``mean(since, until)`` summarise a window.
    """

    def __init__(self, measure: Callable[[], int], *, interval: float = 0.05) -> None:
        self.measure = measure
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                value = self.measure()
            except Exception:  # a process exiting mid-read: skip this sample
                value = -1
            if value >= 0:
                self.samples.append((started, value))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> RssSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)

    def window(self, since: float, until: float) -> list[int]:
        """Values sampled in ``[since, until]`` (monotonic seconds)."""
        return [v for t, v in self.samples if since <= t <= until]

    def peak(self, since: float, until: float) -> int:
        """Largest value in the window (0 if there is none)."""
        return max(self.window(since, until), default=0)

    def mean(self, since: float, until: float) -> int:
        """Mean value in the window (0 if there is none)."""
        values = self.window(since, until)
        return int(sum(values) / len(values)) if values else 0


def proc_status_bytes(pid: int, proc: Path = Path("/proc")) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in bytes (``{}`` once it has exited or for a kernel
    thread, which has neither)."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def process_name(pid: int, proc: Path = Path("/proc")) -> str | None:
    """Basename of ``pid``'s executable, or its ``comm`` (at most 15 characters) when the
    executable cannot be read; None once it has exited."""
    with contextlib.suppress(OSError):
        return Path(os.readlink(proc / str(pid) / "exe")).name.removesuffix(" (deleted)")
    try:
        return (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


def descendants(root: int, proc: Path = Path("/proc")) -> set[int]:
    """Pids of every living descendant of ``root`` (children, their children, ...)."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


class NamedProcessPeaks:
    """A ``measure`` for ``RssSampler``: the summed ``VmRSS`` (bytes) of the descendants of
    ``root`` (default: this process) whose executable is one of ``names``; each call also keeps
    the largest ``VmHWM`` seen per name, over the whole run (``peaks``) and since the last
    ``take_window()``. Processes that come and go between calls are missed, and a process's
    ``VmHWM`` is only known up to its last sample.

    A name matches a process's executable basename, or, when that cannot be read, its ``comm``
    (the kernel cuts it to 15 characters, so ``name[:15]`` is compared).
    """

    def __init__(
        self, names: Iterable[str], *, root: int | None = None, proc: Path = Path("/proc")
    ) -> None:
        self.names = tuple(names)
        self.root = os.getpid() if root is None else root
        self.proc = proc
        self.peaks: dict[str, int] = {}
        self.pids: dict[str, set[int]] = {name: set() for name in self.names}
        self._window: dict[str, int] = {}
        self._lock = threading.Lock()

    def _match(self, found: str | None) -> str | None:
        for name in self.names:
            if found == name or (found is not None and len(found) == 15 and found == name[:15]):
                return name
        return None

    def __call__(self) -> int:
        total = 0
        for pid in descendants(self.root, self.proc):
            name = self._match(process_name(pid, self.proc))
            if name is None:
                continue
            status = proc_status_bytes(pid, self.proc)
            if not status:
                continue
            total += status.get("VmRSS", 0)
            hwm = status.get("VmHWM", 0)
            with self._lock:
                self.pids[name].add(pid)
                self.peaks[name] = max(self.peaks.get(name, 0), hwm)
                self._window[name] = max(self._window.get(name, 0), hwm)
        return total

    def take_window(self) -> dict[str, int]:
        """Largest ``VmHWM`` per name since the previous call (bytes), and start a new window."""
        with self._lock:
            window, self._window = self._window, {}
        return window


def mib(value: float) -> float:
    """Bytes to MiB, rounded to 0.1."""
    return round(value / (1 << 20), 1)


# ---------------------------------------------------------------------------------------------
# machine


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, OS, Python and the versions of the software measured."""
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    bindir = postgres_bindir()
    postgres = None
    if bindir is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            postgres = subprocess.run(
                [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "memory_gib": round(mem_total / (1 << 30), 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            "kubeai-platform": _version("kubeai-platform"),
            "tritonserver": None,  # filled in from a running server by the swap benchmark
            "nvidia-pytriton": _version("nvidia-pytriton"),
            "tritonclient": _version("tritonclient"),
            "mlflow": _version("mlflow"),
            "sqlalchemy": _version("sqlalchemy"),
            "psycopg": _version("psycopg"),
            "fastapi": _version("fastapi"),
            "uvicorn": _version("uvicorn"),
            "numpy": _version("numpy"),
            "scikit-learn": _version("scikit-learn"),
            "sqlite": sqlite3.sqlite_version,
            "postgresql": postgres,
        },
    }
