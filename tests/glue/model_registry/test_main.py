"""``python -m glue.model_registry`` as a process: exit codes that say what failed, and
``--workers N`` processes that die with their supervisor, and no open registry off loopback.

Processes are found through ``/proc`` (Linux only, like ``PR_SET_PDEATHSIG``). A process counts
as gone once it no longer exists or is a zombie: orphans are re-parented to PID 1, which may be
slow to reap them, but a zombie holds no port.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glue.model_registry.__main__ import die_with_supervisor, freeze_startup_objects, is_loopback
from tests.support.net import free_port, wait_http

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; PDEATHSIG is Linux")

#: Seconds within which orphaned workers must be gone (they get SIGTERM at once).
GONE_WITHIN = 10.0


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid`` from ``/proc/<pid>/stat``; None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` -> their command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pid and stat[0] != "Z":
                try:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                except OSError:
                    continue
    return {k: v.decode(errors="replace") for k, v in found.items()}


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait until none of ``pids`` is alive; returns those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def registry_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a registry process on a SQLite file below ``tmp_path``."""
    (tmp_path / "artifacts").mkdir()
    return {
        **os.environ,
        "KUBEAI_REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "KUBEAI_REGISTRY_ARTIFACTS__LOCAL_ROOT": str(tmp_path / "artifacts"),
    }


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Registry processes a test starts; killed at the end with the children ``spawned`` saw
    (also orphans a failing test left behind)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        for pid in _SEEN.pop(proc.pid, set()) | set(children(proc.pid)):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


#: Supervisor pid -> the child pids ``spawned`` found (for the fixture's clean-up).
_SEEN: dict[int, set[int]] = {}


def spawned(supervisor: int) -> dict[int, str]:
    """``children(supervisor)``, remembered so the fixture can kill them if the test fails."""
    found = children(supervisor)
    _SEEN.setdefault(supervisor, set()).update(found)
    return found


def start(
    processes: list[subprocess.Popen[bytes]], env: dict[str, str], *args: str
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue.model_registry", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    processes.append(proc)
    return proc


def test_workers_and_resource_tracker_die_with_a_killed_supervisor_and_the_port_is_free(
    registry_env: dict[str, str], processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    supervisor = start(processes, registry_env, "--workers", "2", "--port", str(port))
    wait_http(url + "/healthz", timeout=120)
    found = spawned(supervisor.pid)
    workers = {p for p, cmd in found.items() if "spawn_main" in cmd}
    trackers = {p for p, cmd in found.items() if "resource_tracker" in cmd}
    assert len(workers) == 2 and len(trackers) == 1, found

    supervisor.kill()  # SIGKILL: no chance to stop its workers
    supervisor.wait(timeout=30)
    assert wait_gone(workers | trackers, GONE_WITHIN) == set()

    restarted = start(processes, registry_env, "--workers", "2", "--port", str(port))
    wait_http(url + "/healthz", timeout=120)
    spawned(restarted.pid)
    assert restarted.poll() is None
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    restarted.terminate()
    restarted.wait(timeout=60)


def _late_worker(flag: str) -> None:
    """A ``multiprocessing`` child that only calls ``die_with_supervisor`` once ``flag`` exists
    (its parent is dead by then), then lives on for a minute unless killed."""
    while not os.path.exists(flag):
        time.sleep(0.02)
    die_with_supervisor()
    time.sleep(60)


_PARENT = """
import multiprocessing, sys, time
from tests.glue.model_registry.test_main import _late_worker
child = multiprocessing.get_context("spawn").Process(target=_late_worker, args=(sys.argv[1],))
child.start()
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_worker_whose_supervisor_died_before_it_asked_for_the_signal_ends_at_once(
    tmp_path: Path,
) -> None:
    """The race ``prctl`` alone misses: the parent dies before the child's call."""
    flag = tmp_path / "flag"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(flag)], stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(timeout=30)
        assert alive(child)
        flag.touch()
        assert wait_gone({child}, GONE_WITHIN) == set()
    finally:
        parent.kill()
        parent.wait(timeout=30)
        if child and alive(child):
            os.kill(child, signal.SIGKILL)


def test_die_with_supervisor_does_nothing_outside_a_multiprocessing_child() -> None:
    assert multiprocessing.parent_process() is None
    die_with_supervisor()  # the test process itself gets no death signal


def test_unreachable_database_exits_3_naming_it(
    registry_env: dict[str, str], processes: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()  # nothing listens there
    env = {
        **registry_env,
        "KUBEAI_REGISTRY_DATABASE_URL": f"postgresql+psycopg://kubeai:secret@127.0.0.1:{port}/r",
    }
    proc = start(processes, env, "--port", str(free_port()))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    message = err.decode()
    assert "cannot reach the database postgresql+psycopg://kubeai:***@127.0.0.1" in message
    assert "secret" not in message and "migrat" not in message


def test_failed_migration_exits_4_with_the_reason(
    registry_env: dict[str, str], processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """A database at a revision this code does not know (a newer registry migrated it)."""
    import sqlite3

    with sqlite3.connect(tmp_path / "registry.db") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999')")
    proc = start(processes, registry_env, "--port", str(free_port()))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, err
    message = err.decode()
    assert "migrating the database sqlite:///" in message and "failed" in message
    assert "9999" in message and "cannot reach" not in message


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("registry.example", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_open_registry_refuses_a_public_bind(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KUBEAI_REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "KUBEAI_ARTIFACTS_LOCAL_ROOT": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "glue.model_registry", "--host", "0.0.0.0", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing to serve without authentication on 0.0.0.0" in done.stderr
    assert "KUBEAI_REGISTRY_AUTH__KUBERNETES__ENABLED" in done.stderr
    assert not (tmp_path / "r.db").exists()  # refused before touching the database


def test_startup_objects_are_frozen_out_of_collections() -> None:
    """After ``freeze_startup_objects`` the collector no longer traverses what lived at start
    (a full collection then pauses the worker for milliseconds, not hundreds of them)."""
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
