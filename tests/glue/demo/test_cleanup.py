"""Every child the demo starts is stopped in every phase: seen through the environment marker
(``KUBEAI_CHILD_OF=<workdir>``) that every child and grandchild carries, not through command
lines (only tritonserver's holds the workdir)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.demo.processes import ChildProcesses, ManagedProcess, marked_processes
from tests.glue.demo.support import start_demo


def _wait_for(predicate, *, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if process is not None and process.poll() is not None:
            pytest.fail(f"the demo exited ({process.returncode}) before {what}")
        time.sleep(0.05)
    pytest.fail(f"{what} not seen within {timeout:.0f}s")


def _cmdlines(pids: list[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return lines


def test_children_and_grandchildren_carry_the_marker_and_are_stopped(tmp_path: Path) -> None:
    marker = str(tmp_path)
    with ChildProcesses(marker) as children:
        child = ManagedProcess(
            "sleeper",
            ["bash", "-c", "sleep 300 & sleep 300 & wait"],
            log_path=tmp_path / "sleeper.log",
            env=children.env,
        )
        children.start(child)
        pids = _wait_for(
            lambda: len(found := marked_processes(marker)) >= 3 and found,
            timeout=10,
            what="the child and its two grandchildren",
        )
        assert child.pid in pids
    assert marked_processes(marker) == []


def test_grandchildren_of_a_child_that_died_are_killed_too(tmp_path: Path) -> None:
    marker = str(tmp_path)
    with ChildProcesses(marker) as children:
        # The child exits at once, leaving an orphan in another session that still carries the
        # marker (what a crashed server's workers look like).
        orphan = ["setsid", "sleep", "300"]
        child = ManagedProcess(
            "parent",
            ["bash", "-c", f"{' '.join(orphan)} & exit 0"],
            log_path=tmp_path / "parent.log",
            env=children.env,
        )
        children.start(child)
        child.wait(10)
        _wait_for(lambda: marked_processes(marker), timeout=10, what="the orphan")
    assert marked_processes(marker) == []


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main thread"
)
def test_a_signal_during_start_is_raised_once_the_child_has_joined(tmp_path: Path) -> None:
    marker = str(tmp_path)

    class SignalledWhileStarting(ManagedProcess):
        def start(self) -> ManagedProcess:
            started = super().start()
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between Popen and joining the set
            time.sleep(0.1)  # the handler has run by now, and held the signal
            return started

    children = ChildProcesses(marker, handle_signals=True)
    with pytest.raises(KeyboardInterrupt), children:
        children.start(
            SignalledWhileStarting(
                "sleeper", ["sleep", "300"], log_path=tmp_path / "s.log", env=children.env
            )
        )
        pytest.fail("the held SIGTERM was not raised after the start")
    assert marked_processes(marker) == []


def _signal_demo(workdir: Path, signum: int, started: Callable[[], object], what: str) -> int:
    """Start the demo, wait until ``started()`` is truthy, send ``signum``; its exit status."""
    demo = start_demo(workdir)
    try:
        _wait_for(started, timeout=120, what=what, process=demo)
        demo.send_signal(signum)
        _, stderr = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert "Traceback" not in stderr, stderr
    return demo.returncode


@pytest.mark.integration
def test_ctrl_c_during_training_stops_the_training_process(tmp_path: Path) -> None:
    """Ctrl-C while "training v1" is shown used to leave the training process running."""
    workdir = (tmp_path / "demo").resolve()

    def training() -> list[str]:
        return [c for c in _cmdlines(marked_processes(str(workdir))) if "glue.training" in c]

    assert _signal_demo(workdir, signal.SIGINT, training, "the training process") == 130
    assert marked_processes(str(workdir)) == []


@pytest.mark.integration
def test_sigterm_right_after_the_registry_starts_leaks_nothing(tmp_path: Path) -> None:
    workdir = (tmp_path / "demo").resolve()

    def registry() -> list[int]:
        return marked_processes(str(workdir))

    assert _signal_demo(workdir, signal.SIGTERM, registry, "the registry process") == 143
    assert marked_processes(str(workdir)) == []
