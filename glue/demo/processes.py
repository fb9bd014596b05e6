"""Child processes the demo and benchmarks start, always stopped again (also on Ctrl-C).

Each ``ManagedProcess`` runs in its own session (so a terminal's Ctrl-C reaches only the parent,
which then stops children in order), logs to a file, and is stopped with SIGTERM to its process
group, then SIGKILL to the group after ``stop_timeout`` seconds.

``ChildProcesses`` is the one tracked set of every child of a run: a child joins it as part of
starting, with Ctrl-C and SIGTERM held back until it has joined, and leaving the set's ``with``
block stops every member (newest first) and then every process still carrying the run's
environment marker (grandchildren such as Triton's python backend stubs included).
``marked_processes`` finds those processes through ``/proc``.

``start_registry`` and ``start_serving`` start the local registry, and tritonserver plus a serving
agent for one service, for the demo and the swap benchmark alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol

import httpx

from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.signals import STOP_SIGNALS
from glue.triton.server import TritonServerProcess, free_ports

#: Environment variable every child of a ``ChildProcesses`` set carries (value: the set's
#: marker), inherited by its own children: what ``marked_processes`` looks for.
MARKER_ENV = "KUBEAI_CHILD_OF"


class ProcessFailed(RuntimeError):  # noqa: N818 - reads as a state in `except` clauses
    """A child exited early or never became ready; the message ends with its log tail."""


class ManagedProcess:
    """One child process: ``argv`` with ``env`` added to ours, output to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while started."""
        return self._process.pid if self._process else None

    def start(self) -> ManagedProcess:
        """Start the child; raises ``OSError`` if the executable cannot run."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the child's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_http(self, url: str, *, timeout: float = 60.0) -> None:
        """Wait until ``url`` answers 2xx; ``ProcessFailed`` if the child dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise ProcessFailed(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=1.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit; returns its exit code (``TimeoutExpired`` after timeout)."""
        if self._process is None:
            raise ProcessFailed(f"{self.name} was not started")
        return self._process.wait(timeout)

    def stop(self) -> int | None:
        """Stop the child and every process of its session; returns the child's exit code.

        SIGTERM to the process group (the child's pid: it leads its own session), wait up to
        ``stop_timeout`` s for the group to exit, then SIGKILL whatever is left of it. Servers
        such as ``mlflow server`` run their workers as grandchildren. Idempotent.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(self.stop_timeout)
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.05)
        _signal_group(process.pid, signal.SIGKILL)
        return process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Stoppable(Protocol):
    """What ``ChildProcesses`` starts and stops: ``ManagedProcess``, ``TritonServerProcess``."""

    def start(self) -> Any:
        """Start the process."""

    def stop(self) -> int | None:
        """Stop it (idempotent; a no-op if it never started)."""


def marked_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment has ``KUBEAI_CHILD_OF=<marker>`` (via ``/proc``).

    Processes of other users (environment unreadable) and zombies are not listed.
    """
    wanted = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry.name))
    return sorted(found)


class ChildProcesses:
    """The one tracked set of a run's child processes, stopped together.

    Use as a context manager. ``start(child)`` starts a child and adds it to the set; with
    ``handle_signals`` the set also owns SIGINT and SIGTERM while it is open: they raise
    ``KeyboardInterrupt`` / ``Terminated`` in the main thread, but never between a child's start
    and its joining the set (they are held until it has joined), and only once: a repeated
    signal while the children are being stopped is ignored, so the cleanup is not cut short.
    A stop whose exception was swallowed (a signal handler that raises while the main thread
    runs a weakref callback or ``__del__`` — e.g. an import's module-lock callback — is printed
    as "Exception ignored" and lost) is raised again before the next child starts, so the run
    still stops with the signal's exit status.

    Leaving the block stops every child, newest first (the serving agent before Triton before
    the registry), then SIGKILLs any process still carrying ``env`` (``MARKER_ENV``), e.g. the
    children of a child that died. Previous signal handlers are restored.

    Args:
        marker: the value of ``MARKER_ENV`` for this run (e.g. its work directory).
        handle_signals: install the SIGINT/SIGTERM/SIGHUP handlers (main thread only).
    """

    def __init__(self, marker: str, *, handle_signals: bool = False) -> None:
        self.marker = marker
        self.env = {MARKER_ENV: marker}
        self.handle_signals = handle_signals
        self._children: list[Stoppable] = []
        self._starting = 0
        self._held: KeyboardInterrupt | None = None
        self._pending: KeyboardInterrupt | None = None
        self._signalled = False
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._signalled:
            return  # the run is already stopping
        self._signalled = True
        exc = STOP_SIGNALS.get(signum, KeyboardInterrupt)()
        self._pending = exc
        if self._starting:
            self._held = exc
            return
        raise exc

    def start(self, child: Stoppable) -> Any:
        """Start ``child`` and add it to the set; returns what ``child.start()`` returns.

        A signal arriving meanwhile is raised once the child has joined the set; one whose
        exception was swallowed earlier is raised here, before anything starts.
        """
        if self._pending is not None:
            raise self._pending
        self._starting += 1
        try:
            self._children.append(child)
            return child.start()
        finally:
            self._starting -= 1
            held, self._held = self._held, None
            if held is not None and not self._starting:
                raise held

    def stop_all(self) -> None:
        """Stop every child (newest first), then kill what still carries the marker."""
        self._signalled = True  # signals from here on must not cut the cleanup short
        while self._children:
            self._children.pop().stop()
        deadline = time.monotonic() + 5
        while (left := marked_processes(self.marker)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def __enter__(self) -> ChildProcesses:
        if self.handle_signals:
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop_all()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()


def serving_agent_process(
    *,
    registry_url: str,
    team: str,
    service: str,
    pod: str,
    triton_url: str,
    model_repository: Path,
    triton_grpc_url: str = "",
    artifacts_root: Path | str,
    metrics_port: int,
    log_path: Path,
    poll_interval: float = 0.5,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> ManagedProcess:
    """A (not yet started) ``python -m glue.serving_agent`` for a local tritonserver.

    Settings go through the agent's ``KUBEAI_AGENT_*`` environment (local file artifact store
    under ``artifacts_root``, metrics on 127.0.0.1:``metrics_port``, backoff 0.5..5 s);
    repository control goes to ``triton_grpc_url`` (``host:port``; empty: over HTTP).
    """
    return ManagedProcess(
        "serving agent",
        [python or sys.executable, "-m", "glue.serving_agent"],
        log_path=log_path,
        env={
            **(env or {}),
            "KUBEAI_AGENT_REGISTRY_URL": registry_url,
            "KUBEAI_AGENT_TEAM": team,
            "KUBEAI_AGENT_SERVICE": service,
            "KUBEAI_AGENT_POD": pod,
            "KUBEAI_AGENT_TRITON_URL": triton_url,
            "KUBEAI_AGENT_TRITON_GRPC_URL": triton_grpc_url,
            "KUBEAI_AGENT_MODEL_REPOSITORY": str(model_repository),
            "KUBEAI_AGENT_POLL_INTERVAL": str(poll_interval),
            "KUBEAI_AGENT_BACKOFF_INITIAL": "0.5",
            "KUBEAI_AGENT_BACKOFF_MAX": "5",
            "KUBEAI_AGENT_METRICS_PORT": str(metrics_port),
            "KUBEAI_AGENT_METRICS_ADDRESS": "127.0.0.1",
            "KUBEAI_AGENT_ARTIFACTS__LOCAL_ROOT": str(artifacts_root),
        },
    )


def start_registry(
    children: ChildProcesses,
    *,
    port: int,
    state: Path,
    log_path: Path,
    env: dict[str, str],
    python: str | None = None,
    team_prefixes: Sequence[str] = (),
) -> str:
    """Start ``python -m glue.model_registry`` on 127.0.0.1:``port`` and wait until it is ready.

    Its database is ``<state>/registry.db`` (SQLite), its artifact root ``<state>/artifacts``;
    ``team_prefixes`` are its ``KUBEAI_REGISTRY_ARTIFACT_TEAM_PREFIXES`` (empty: no scoping);
    ``env`` is added to the child's environment (with the set's marker). Returns its base URL.
    Raises ``ProcessFailed`` if it exits or is not ready within 60 s.
    """
    registry = ManagedProcess(
        "registry",
        [python or sys.executable, "-m", "glue.model_registry", "--port", str(port)],
        log_path=log_path,
        env={
            **env,
            **children.env,
            "KUBEAI_REGISTRY_DATABASE_URL": f"sqlite:///{state / 'registry.db'}",
            "KUBEAI_REGISTRY_ARTIFACTS__LOCAL_ROOT": str(state / "artifacts"),
            "KUBEAI_REGISTRY_ARTIFACT_TEAM_PREFIXES": json.dumps(list(team_prefixes)),
        },
    )
    children.start(registry)
    url = f"http://127.0.0.1:{port}"
    registry.wait_http(f"{url}/readyz", timeout=60)
    return url


@dataclass(frozen=True)
class Serving:
    """A running tritonserver and the serving agent beside it (both members of a set)."""

    triton: TritonServerProcess
    agent: ManagedProcess
    metrics_url: str


def start_serving(
    children: ChildProcesses,
    client: RegistryClient,
    *,
    registry_url: str,
    service: str,
    team: str,
    model: str,
    alias: str,
    pod: str,
    model_repository: Path,
    artifacts_root: Path | str,
    logs: Path,
    env: dict[str, str],
    poll_interval: float = 0.5,
    python: str | None = None,
) -> Serving:
    """Start tritonserver (explicit model control) and a serving agent for ``service``.

    ``client`` talks to the registry at ``registry_url`` (the agent's registry too).
    Creates the model (unless it exists) and the service assigned to ``model``'s ``alias``
    (unless it exists), then starts both processes and waits until Triton is live and the
    agent's metrics answer. Logs go below ``logs`` (``triton/``, ``agent.log``).

    Raises ``TritonServerError`` (Triton cannot start), ``ProcessFailed`` (the agent exited or
    is not up within 60 s), the registry client's errors.
    """
    triton = TritonServerProcess(model_repository, logs / "triton", env=children.env)
    children.start(triton)
    triton.wait_live(timeout=60)
    client.ensure_model(schemas.ModelCreate(name=model, team=team))
    client.create_service(
        schemas.ServiceCreate(
            name=service, team=team, assignments=[schemas.Assignment(model=model, alias=alias)]
        ),
        exist_ok=True,
    )
    (metrics_port,) = free_ports(1)
    agent = serving_agent_process(
        registry_url=registry_url,
        team=team,
        service=service,
        pod=pod,
        triton_url=triton.http_url,
        triton_grpc_url=triton.grpc_url,
        model_repository=model_repository,
        artifacts_root=artifacts_root,
        metrics_port=metrics_port,
        log_path=logs / "agent.log",
        poll_interval=poll_interval,
        env={**env, **children.env, "KUBEAI_AGENT_TRITON_METRICS_URL": triton.metrics_url},
        python=python,
    )
    children.start(agent)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    agent.wait_http(metrics_url, timeout=60)
    return Serving(triton=triton, agent=agent, metrics_url=metrics_url)
