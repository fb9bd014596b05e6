"""``kubeai demo`` only clears ``state/`` and ``logs/`` of a folder that is its own workdir, and
stops everything it started with exit status 143 on SIGTERM."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from glue.demo.processes import ChildProcesses, marked_processes
from glue.demo.runner import (
    MARKER,
    DemoError,
    DemoTerminated,
    prepare_workdir,
    run_demo,
    workdir_lock,
)
from glue.signals import HungUp
from tests.glue.demo.support import start_demo


def quiet() -> Console:
    return Console(file=io.StringIO())


def user_folder(root: Path) -> None:
    """A folder that is not the demo's, holding ``state/`` and ``logs/`` of its own."""
    (root / "state").mkdir(parents=True)
    (root / "state" / "important.db").write_text("user data")
    (root / "logs").mkdir()
    (root / "logs" / "app.log").write_text("user logs")
    (root / "notes.txt").write_text("notes")


def test_new_directory_is_created_and_marked(tmp_path: Path) -> None:
    root = tmp_path / "a" / "demo"
    state, logs = prepare_workdir(root)
    assert (root / MARKER).is_file()
    assert (state / "artifacts").is_dir() and (state / "model-repository").is_dir()
    assert state == root / "state" and logs == root / "logs" and not logs.exists()


def test_empty_directory_is_used_and_marked(tmp_path: Path) -> None:
    prepare_workdir(tmp_path)
    assert (tmp_path / MARKER).is_file() and (tmp_path / "state" / "artifacts").is_dir()


def test_previous_demo_workdir_is_cleared_but_only_state_and_logs(tmp_path: Path) -> None:
    prepare_workdir(tmp_path)
    (tmp_path / "state" / "registry.db").write_text("old run")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "agent.log").write_text("old run")
    (tmp_path / "report.json").write_text("{}")
    state, logs = prepare_workdir(tmp_path)
    assert sorted(p.name for p in state.iterdir()) == ["artifacts", "model-repository"]
    assert not logs.exists()
    assert (tmp_path / "report.json").read_text() == "{}"  # rewritten by the run itself


@pytest.mark.parametrize("nested", ["", "sub"])
def test_non_empty_folder_that_is_not_a_demo_workdir_is_refused_untouched(
    tmp_path: Path, nested: str
) -> None:
    root = tmp_path / nested if nested else tmp_path
    user_folder(root)
    with pytest.raises(DemoError, match=r"not a previous demo workdir.*pick a new or empty"):
        prepare_workdir(root)
    assert (root / "state" / "important.db").read_text() == "user data"
    assert (root / "logs" / "app.log").read_text() == "user logs"
    assert not (root / MARKER).exists()


def test_home_folder_is_refused_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kubeai demo --workdir ~`` used to delete ``~/state`` and ``~/logs``."""
    user_folder(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DemoError, match="not a previous demo workdir"):
        run_demo(workdir="~", swap_seconds=20, clients=2, console=quiet())
    assert (tmp_path / "state" / "important.db").read_text() == "user data"
    assert (tmp_path / "logs" / "app.log").read_text() == "user logs"


def test_current_directory_is_refused_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DemoError, match="not a previous demo workdir"):
        run_demo(workdir=".", swap_seconds=20, clients=2, console=quiet())
    assert (tmp_path / "state" / "important.db").is_file()


@pytest.mark.parametrize("below", [False, True])
def test_a_file_is_a_demo_error_not_a_traceback(tmp_path: Path, below: bool) -> None:
    target = tmp_path / "hostname"
    target.write_text("host\n")
    workdir = target / "demo" if below else target
    with pytest.raises(DemoError, match="workdir"):
        run_demo(workdir=workdir, swap_seconds=20, clients=2, console=quiet())
    assert target.read_text() == "host\n"


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main thread"
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_handler_raises_once(signum: int) -> None:
    """SIGTERM raises ``DemoTerminated`` (exit 143), SIGHUP (terminal closed) ``HungUp`` (exit
    129), SIGINT ``KeyboardInterrupt``; a repeated signal during the cleanup is ignored."""
    before = signal.getsignal(signum)
    with ChildProcesses("unused-marker", handle_signals=True) as children:
        assert signal.getsignal(signum) == children._on_signal
        with pytest.raises(KeyboardInterrupt) as caught:
            children._on_signal(signum, None)
        if signum == signal.SIGTERM:
            assert type(caught.value) is DemoTerminated
            assert caught.value.exit_code == 143
        elif signum == signal.SIGHUP:
            assert isinstance(caught.value, HungUp) and isinstance(caught.value, DemoTerminated)
            assert caught.value.exit_code == 129
        else:
            assert not isinstance(caught.value, DemoTerminated)
        children._on_signal(signum, None)  # a second signal during the cleanup is ignored
    assert signal.getsignal(signum) == before


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main thread"
)
def test_a_swallowed_stop_is_raised_before_the_next_child_starts() -> None:
    """CI, SIGTERM right after the demo's registry started: the handler raised while the main
    thread ran an import's module-lock weakref callback, Python printed "Exception ignored in:
    <function _get_module_lock.<locals>.cb ...> ... Terminated" and the demo ran on (killed
    after 90 s instead of exiting 143). The stop must still end the run."""

    class Child:
        started = False

        def start(self) -> None:
            self.started = True

        def stop(self) -> None:
            pass

    child = Child()
    with ChildProcesses("unused-marker", handle_signals=True) as children:
        with contextlib.suppress(KeyboardInterrupt):  # what "Exception ignored" amounts to
            children._on_signal(signal.SIGTERM, None)
        with pytest.raises(DemoTerminated) as caught:
            children.start(child)
        assert caught.value.exit_code == 143
    assert not child.started


def test_a_second_demo_in_the_same_workdir_is_refused_at_once_naming_the_first(
    tmp_path: Path,
) -> None:
    """Two ``kubeai demo`` in one workdir: the second used to wipe the first's state (and the
    first's cleanup killed the second's registry). Now the second refuses, touching nothing."""
    workdir = tmp_path / "demo"
    with workdir_lock(workdir):  # the first run
        (workdir / "state").mkdir()
        (workdir / "state" / "registry.db").write_text("the first run's")
        started = time.monotonic()
        with pytest.raises(DemoError, match=f"in use by another kubeai demo \\(pid {os.getpid()}"):
            run_demo(workdir=workdir, swap_seconds=20, clients=2, console=quiet())
        assert time.monotonic() - started < 5
        assert (workdir / "state" / "registry.db").read_text() == "the first run's"
        with pytest.raises(DemoError, match="in use"), workdir_lock(workdir):
            pass
    with workdir_lock(workdir):  # free again once the first run ended
        pass


def test_a_second_demo_process_exits_1_naming_the_running_one(tmp_path: Path) -> None:
    workdir = (tmp_path / "demo").resolve()
    with workdir_lock(workdir):
        demo = start_demo(workdir)
        _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 1, stderr
    said = " ".join(stderr.split())  # rich wraps the line
    assert "in use by another kubeai demo" in said and f"(pid {os.getpid()}," in said
    assert "Traceback" not in stderr


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main thread"
)
def test_sigterm_stops_every_child_and_raises_demo_terminated(tmp_path: Path) -> None:
    """SIGTERM while the registry starts: the demo stops it and raises ``DemoTerminated``."""
    workdir = tmp_path / "demo"
    registry_log = workdir / "logs" / "registry.log"

    def terminate() -> None:  # the handler is installed before the registry is started
        deadline = time.monotonic() + 30
        while not registry_log.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        with pytest.raises(DemoTerminated):
            run_demo(workdir=workdir, swap_seconds=20, clients=2, console=quiet())
    finally:
        killer.join()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert marked_processes(str(workdir.resolve())) == []
