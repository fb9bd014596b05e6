"""Every child the demo starts is stopped in every phase: seen through the environment marker
(``KUBEAI_CHILD_OF=<workdir>``) that every child and grandchild carries, not through command
lines (only tritonserver's holds the workdir)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.demo.processes import ChildProcesses, ManagedProcess, marked_processes
from glue.triton.server import SHM_DIR
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


def _shm_prefix(workdir: Path) -> str:
    """The python-backend shared-memory prefix the demo's tritonserver was started with."""
    log = (workdir / "logs" / "triton" / "tritonserver.log").read_text(errors="replace")
    found = re.search(r"shm-region-prefix-name=(\S+)", log)
    assert found, "tritonserver was started without a shared-memory prefix of its own"
    return found.group(1)


@pytest.mark.integration
def test_ctrl_c_during_the_hot_swap_stops_the_load_generator_and_leaks_nothing(
    tmp_path: Path,
) -> None:
    """SIGINT ~4 s into "hot swap under load" used to print "interrupted", then crash with a
    Segmentation fault (exit 139: load-generator threads alive at interpreter exit) and leave
    a 1 MiB /dev/shm/triton_python_backend_shm_region_* file behind."""
    workdir = (tmp_path / "demo").resolve()
    trained_v2 = workdir / "logs" / "train-v2.log"

    def swapping() -> bool:
        if not trained_v2.is_file() or "{" not in trained_v2.read_text(errors="replace"):
            return False
        time.sleep(4)  # v2 is registered: the load generator runs
        return True

    assert _signal_demo(workdir, signal.SIGINT, swapping, "the hot swap") == 130
    assert marked_processes(str(workdir)) == []
    prefix = _shm_prefix(workdir)
    assert prefix.startswith("kubeai_")
    assert list(SHM_DIR.glob(f"{prefix}*")) == []


@pytest.mark.integration
def test_closing_the_terminal_sighup_stops_every_child_and_exits_129(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed) used to orphan the registry, tritonserver with its python
    stub, and the serving agent."""
    workdir = (tmp_path / "demo").resolve()
    agent_log = workdir / "logs" / "agent.log"

    def serving() -> bool:
        return agent_log.is_file()

    assert _signal_demo(workdir, signal.SIGHUP, serving, "the serving agent") == 129
    assert marked_processes(str(workdir)) == []
    assert list(SHM_DIR.glob(f"{_shm_prefix(workdir)}*")) == []
