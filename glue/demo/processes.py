"""Child processes the demo and benchmarks start, always stopped again (also on Ctrl-C).

Each ``ManagedProcess`` runs in its own session (so a terminal's Ctrl-C reaches only the parent,
which then stops children in order), logs to a file, and is stopped with SIGTERM, then SIGKILL
after ``stop_timeout`` seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx


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
        """SIGTERM, wait up to ``stop_timeout`` s, then SIGKILL; returns the exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()


def serving_agent_process(
    *,
    registry_url: str,
    service: str,
    pod: str,
    triton_url: str,
    model_repository: Path,
    artifacts_root: Path | str,
    metrics_port: int,
    log_path: Path,
    poll_interval: float = 0.5,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> ManagedProcess:
    """A (not yet started) ``python -m glue.serving_agent`` for a local tritonserver.

    Settings go through the agent's ``KUBEAI_AGENT_*`` environment (local file artifact store
    under ``artifacts_root``, metrics on 127.0.0.1:``metrics_port``, backoff 0.5..5 s).
    """
    import sys

    return ManagedProcess(
        "serving agent",
        [python or sys.executable, "-m", "glue.serving_agent"],
        log_path=log_path,
        env={
            **(env or {}),
            "KUBEAI_AGENT_REGISTRY_URL": registry_url,
            "KUBEAI_AGENT_SERVICE": service,
            "KUBEAI_AGENT_POD": pod,
            "KUBEAI_AGENT_TRITON_URL": triton_url,
            "KUBEAI_AGENT_MODEL_REPOSITORY": str(model_repository),
            "KUBEAI_AGENT_POLL_INTERVAL": str(poll_interval),
            "KUBEAI_AGENT_BACKOFF_INITIAL": "0.5",
            "KUBEAI_AGENT_BACKOFF_MAX": "5",
            "KUBEAI_AGENT_METRICS_PORT": str(metrics_port),
            "KUBEAI_AGENT_METRICS_ADDRESS": "127.0.0.1",
            "KUBEAI_AGENT_ARTIFACTS__LOCAL_ROOT": str(artifacts_root),
        },
    )
