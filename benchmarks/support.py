"""Shared pieces of the benchmarks: environment, RSS sampling and a description of the machine.

Processes are started and stopped with ``glue.demo.processes`` (as the demo does), PostgreSQL
with ``tests.support.postgres.PostgresServer`` (as the tests do). Everything started listens on
127.0.0.1 only and is stopped again by its owner.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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
