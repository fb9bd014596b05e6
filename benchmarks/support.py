"""Shared pieces of the benchmarks: environment, a real PostgreSQL server, process-group stop,
RSS sampling and a description of the machine.

Everything started here listens on 127.0.0.1 only and is stopped again by its owner.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glue.demo.processes import ManagedProcess
from glue.triton.server import free_ports

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
# processes


def stop_group(process: ManagedProcess, *, timeout: float = 15.0) -> None:
    """Stop ``process`` and every process of its session (SIGTERM, then SIGKILL after ``timeout``).

    ``ManagedProcess`` starts children in their own session, so the process group id is the
    child's pid; servers such as ``mlflow server`` run their workers as grandchildren.
    """
    pid = process.pid
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    process.stop()  # reaps the child (already gone) and forgets it


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bindir() -> Path | None:
    """Directory of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the 'postgres' user the package creates.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port (``fsync=off``, trust auth).

    Use as a context manager. ``create_database()`` gives a fresh, empty database and returns its
    SQLAlchemy URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``).

    Raises ``BenchmarkSkipped`` at start when PostgreSQL is not installed.
    """

    def __init__(self, *, max_connections: int = 300) -> None:
        self.bindir = postgres_bindir()
        self.max_connections = max_connections
        self.port = 0
        self.data: Path | None = None
        self.version = ""

    def start(self) -> PostgresServer:
        """initdb + pg_ctl start (about 1 s); raises ``BenchmarkSkipped`` if not installed."""
        if self.bindir is None:
            raise BenchmarkSkipped(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                "apt-get install postgresql"
            )
        self.version = subprocess.run(
            [str(self.bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.data = Path(tempfile.mkdtemp(prefix="kubeai-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        (self.port,) = free_ports(1)
        subprocess.run(
            _as_postgres(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data / "db"),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-k {self.data} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections={self.max_connections}"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data / "db"),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.data / "log"),
                    "start",
                    "-o",
                    options,
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self

    @property
    def admin_url(self) -> str:
        """libpq URL of the ``postgres`` database (for CREATE DATABASE)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, prefix: str = "bench") -> str:
        """Create an empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server (fast mode) and delete its data directory. Idempotent."""
        if self.data is None or self.bindir is None:
            return
        subprocess.run(
            _as_postgres(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.data, ignore_errors=True)
        self.data = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
