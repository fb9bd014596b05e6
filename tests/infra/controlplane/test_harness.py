"""The harness refuses to start outside a loopback-only namespace and, when a component fails or
never gets ready, stops every process it started (whole process groups) and shows the log."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from infra.controlplane.harness import ControlPlane, ControlPlaneError
from infra.controlplane.netns import NotIsolatedError
from tests.infra.controlplane.test_netns import (
    HOST_ROUTES,
    LO_DEV,
    LO_V6,
    ROUTE_HEADER,
    fake_proc_net,
)

NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def fake_binaries(folder: Path, etcd_script: str) -> dict[str, Path]:
    """Shell scripts standing in for the binaries; ``etcd`` runs ``etcd_script``."""
    folder.mkdir()
    paths = {}
    for name in NAMES:
        path = folder / name
        path.write_text("#!/bin/sh\n" + (etcd_script if name == "etcd" else "exit 99\n"))
        path.chmod(0o755)
        paths[name] = path
    return paths


def isolated(tmp_path: Path) -> Path:
    """A fake ``/proc/self/net`` of a loopback-only namespace."""
    folder = tmp_path / "net"
    folder.mkdir()
    return fake_proc_net(folder, dev=LO_DEV, route=ROUTE_HEADER, ipv6=LO_V6)


def gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether process ``pid`` has exited (zombies count as gone) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_refuses_to_start_outside_a_loopback_only_namespace(tmp_path: Path) -> None:
    net = tmp_path / "net"
    net.mkdir()
    binaries = fake_binaries(tmp_path / "bin", "touch started\n")
    plane = ControlPlane(
        tmp_path / "plane",
        binaries,
        proc_net=fake_proc_net(net, dev=LO_DEV + "  eth0: 0 0\n", route=HOST_ROUTES, ipv6=LO_V6),
    )
    with pytest.raises(NotIsolatedError, match="eth0"), plane:
        pass
    assert not (tmp_path / "plane").exists()


def test_a_component_that_exits_fails_the_start_with_its_log(tmp_path: Path) -> None:
    binaries = fake_binaries(tmp_path / "bin", "echo 'etcd: cannot open data dir'\nexit 3\n")
    plane = ControlPlane(tmp_path / "plane", binaries, timeout=10, proc_net=isolated(tmp_path))
    with pytest.raises(ControlPlaneError, match="etcd exited with status 3") as failure, plane:
        pass
    assert "cannot open data dir" in str(failure.value)
    assert plane.processes == []
    assert (tmp_path / "plane" / "logs" / "etcd.log").is_file()


def test_a_component_that_never_gets_ready_is_stopped_with_its_children(tmp_path: Path) -> None:
    script = "sleep 300 &\necho $! > child.pid\nwait\n"
    binaries = fake_binaries(tmp_path / "bin", script)
    plane = ControlPlane(tmp_path / "plane", binaries, timeout=1, proc_net=isolated(tmp_path))
    with pytest.raises(ControlPlaneError, match="timed out after 1 s waiting for etcd"), plane:
        pass
    child = int((tmp_path / "plane" / "child.pid").read_text())
    assert gone(child), f"etcd's child {child} survived the stop"
    assert plane.processes == []


def test_missing_binaries_are_named(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "plane", {}, proc_net=isolated(tmp_path))
    with pytest.raises(ControlPlaneError, match="make controlplane"):
        plane.start()
    assert os.listdir(tmp_path) == ["net"]


def test_sigterm_unwinds_like_ctrl_c_with_its_exit_code(tmp_path: Path) -> None:
    """While a plane runs, SIGTERM/SIGHUP raise ``glue.signals.Terminated``/``HungUp``, which are
    KeyboardInterrupts: pytest then ends the session and runs its finalizers (stopping every
    plane) instead of failing one test and going on; ``kubeai dev cluster up`` exits 143/129."""
    import signal

    from glue.signals import HungUp, Terminated, raise_stop

    plane = ControlPlane(tmp_path, {})
    plane._install_signal_handlers()
    try:
        assert signal.getsignal(signal.SIGTERM) is raise_stop
        assert signal.getsignal(signal.SIGHUP) is raise_stop
    finally:
        plane._restore_signal_handlers()
    assert signal.getsignal(signal.SIGTERM) is not raise_stop
    with pytest.raises(KeyboardInterrupt) as caught:
        raise_stop(signal.SIGTERM)
    assert type(caught.value) is Terminated and caught.value.exit_code == 143
    with pytest.raises(HungUp) as hung_up:
        raise_stop(signal.SIGHUP)
    assert hung_up.value.exit_code == 129
